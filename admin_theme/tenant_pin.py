"""The tenant switcher: pin the whole admin to one organization for this session.

Every list, filter, autocomplete, dashboard figure and search is scoped through
`tenants.selectors.scope_to_user`, which honours `user.pinned_organization_id`;
this module sets it from the session (only while the organization is still
visible to the user) and offers the pin/unpin views.
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from tenants.models import Membership, Organization
from tenants.selectors import organizations_visible_to

SESSION_KEY = "pinned_organization_id"


class PinnedOrganizationMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        pinned_id = (
            request.session.get(SESSION_KEY) if hasattr(request, "session") else None
        )
        if pinned_id and request.user.is_authenticated:
            organization = (
                organizations_visible_to(request.user).filter(pk=pinned_id).first()
            )
            if organization is None:
                del request.session[SESSION_KEY]  # access revoked, or row gone
            else:
                request.user.pinned_organization = organization
                request.user.pinned_organization_id = organization.pk
        return self.get_response(request)


class PinForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=Organization.objects.none())

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["organization"]
        # Searches organizations through the admin's (scoped) autocomplete; the
        # widget is set before the queryset so the field hands it its choices.
        field.widget = AutocompleteSelect(
            Membership._meta.get_field("organization"), admin.site
        )
        field.queryset = organizations_visible_to(user).filter(deleted_at__isnull=True)


def _back(request) -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(url, {request.get_host()}):
        return url
    return "/admin/"


@login_required(login_url="admin:login")
def pin(request):
    """Choose the organization to pin (or pin the one posted)."""
    if not request.user.is_staff:
        raise Http404
    form = PinForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        request.session[SESSION_KEY] = form.cleaned_data["organization"].pk
        return redirect(_back(request))
    context = {
        **admin.site.each_context(request),
        "title": "Pin the admin to one organization",
        "form": form,
        "next": _back(request),
    }
    return render(request, "admin_theme/pin.html", context)


@require_POST
@login_required(login_url="admin:login")
def unpin(request):
    request.session.pop(SESSION_KEY, None)
    return redirect(_back(request))
