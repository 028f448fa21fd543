"""Saved views: a named changelist query (filters, search, order) staff reopen from
the sidebar, optionally shared with one of their roles.

Reads and writes live here (a small feature of the admin theme); the changelist a
saved view opens is scoped like any other, so sharing a view never shares data.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404, QueryDict
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from admin_theme.models import SavedView
from audit.services import record_create, record_update

# Query parameters that are not part of a view (pagination, errors, popups).
TRANSIENT_PARAMS = {"p", "e", "_popup", "_to_field", "_changelist_filters"}


def saved_views_for(user) -> QuerySet[SavedView]:
    """The user's own views and those shared with one of their roles."""
    return (
        SavedView.objects.filter(Q(owner=user) | Q(shared_with__in=user.groups.all()))
        .select_related("owner", "shared_with")
        .order_by("model", "name")
    )


def clean_query(querydict) -> str:
    params = querydict.copy()
    for name in TRANSIENT_PARAMS:
        params.pop(name, None)
    return params.urlencode()


@transaction.atomic
def saved_view_save(
    *, actor, model: str, name: str, query: str, shared_with: Group | None = None
) -> SavedView:
    """Save (or overwrite) the actor's view `name` of `model`."""
    if shared_with is not None and not actor.groups.filter(pk=shared_with.pk).exists():
        raise ValidationError("You can only share a view with one of your own roles.")
    existing = SavedView.objects.filter(owner=actor, model=model, name=name).first()
    if existing is not None:
        record_update(
            actor=actor,
            instance=existing,
            data={"query": query, "shared_with": shared_with},
        )
        return existing
    return record_create(
        actor=actor,
        instance=SavedView(
            owner=actor, model=model, name=name, query=query, shared_with=shared_with
        ),
    )


def changelist_url(view: SavedView) -> str | None:
    app_label, model_name = view.model.split(".")
    try:
        url = reverse(f"admin:{app_label}_{model_name}_changelist")
    except NoReverseMatch:
        return None
    return f"{url}?{view.query}" if view.query else url


class SaveViewForm(forms.Form):
    name = forms.CharField(max_length=80)
    model = forms.CharField(max_length=100)
    query = forms.CharField(max_length=2000, required=False)
    shared_with = forms.ModelChoiceField(queryset=Group.objects.none(), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["shared_with"].queryset = user.groups.all()

    def clean_model(self):
        label = self.cleaned_data["model"]
        models = {m._meta.label_lower: m for m in admin.site._registry}
        if label not in models:
            raise ValidationError("Unknown list.")
        return label


@require_POST
@login_required(login_url="admin:login")
def save_view(request):
    """Save the current changelist's query under a name, then go back to it."""
    if not request.user.is_staff:
        raise Http404
    form = SaveViewForm(request.POST, user=request.user)
    if not form.is_valid():
        messages.error(request, "The view was not saved: give it a name.")
        return redirect(request.META.get("HTTP_REFERER") or "admin:index")
    data = form.cleaned_data
    view = saved_view_save(
        actor=request.user,
        model=data["model"],
        name=data["name"].strip(),
        query=clean_query(QueryDict(data["query"])),
        shared_with=data["shared_with"],
    )
    messages.success(request, f"Saved view “{view.name}”; it is in the sidebar.")
    return redirect(changelist_url(view) or "admin:index")


def _views_of(request) -> list[SavedView]:
    """The user's saved views, read once per request: the sidebar lists them all,
    a list's bar those of its model."""
    if not hasattr(request, "_saved_views"):
        request._saved_views = list(saved_views_for(request.user))
    return request._saved_views


def sidebar_group(request) -> dict | None:
    """The sidebar's "Saved views" group for this user (None when they have none)."""
    items = []
    for view in _views_of(request):
        url = changelist_url(view)
        if url is None:
            continue
        app_label, model_name = view.model.split(".")
        if not request.user.has_perm(f"{app_label}.view_{model_name}"):
            continue
        shared = f" · {view.shared_with.name}" if view.shared_with_id else ""
        items.append(
            {
                "title": f"{view.name}{shared}",
                "icon": "bookmark",
                "link": url,
                "active": False,
            }
        )
    if not items:
        return None
    return {"title": "Saved views", "separator": True, "items": items}


def views_of_model(request, model) -> list[dict]:
    """Saved views of one list, for the bar above it."""
    label = model._meta.label_lower
    return [
        {"name": view.name, "url": changelist_url(view), "shared": view.shared_with}
        for view in _views_of(request)
        if view.model == label
    ]
