"""The organization's "Support agents" page: tenant managers and platform admins
assign and unassign support agents (guardian object permissions), through the
services, so every grant and revocation is audited."""

from django import forms
from django.contrib import messages
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from tenants import roles
from tenants.models import Organization, OrganizationUserObjectPermission, User
from tenants.selectors import SUPPORT_PERMISSION
from tenants.services import support_grant, support_revoke


def support_agents_of(organization: Organization):
    return User.objects.filter(
        pk__in=OrganizationUserObjectPermission.objects.filter(
            content_object=organization, permission__codename=SUPPORT_PERMISSION
        ).values("user_id")
    ).order_by("email")


class AssignAgentForm(forms.Form):
    agent = forms.ModelChoiceField(
        queryset=User.objects.none(),
        label="Support agent",
        help_text="Staff in the Support agent role who are not assigned yet.",
    )

    def __init__(self, *args, organization: Organization, **kwargs):
        super().__init__(*args, **kwargs)
        group = Group.objects.filter(name=roles.SUPPORT_AGENT)
        self.fields["agent"].queryset = (
            User.objects.filter(groups__in=group, is_active=True, is_staff=True)
            .exclude(pk__in=support_agents_of(organization).values("pk"))
            .order_by("email")
        )


class SupportAgentsMixin:
    """Adds `<id>/support/` to the organization admin."""

    def get_urls(self):
        urls = super().get_urls()
        view = self.admin_site.admin_view(self.support_view)
        return [
            path(
                "<path:object_id>/support/",
                view,
                name="tenants_organization_support",
            ),
            *urls,
        ]

    def has_assign_support_permission(self, request, object_id=None) -> bool:
        return request.user.has_perm("tenants.assign_support")

    def support_view(self, request, object_id):
        """List, assign and unassign the organization's support agents."""
        organization = self.get_object(request, object_id)
        if organization is None:
            raise Http404
        if not self.has_assign_support_permission(request):
            raise PermissionDenied
        form = AssignAgentForm(organization=organization)
        confirm_revoke = None
        if request.method == "POST":
            action = request.POST.get("action")
            if action == "grant":
                form = AssignAgentForm(request.POST, organization=organization)
                if form.is_valid():
                    agent = form.cleaned_data["agent"]
                    support_grant(
                        actor=request.user, organization=organization, agent=agent
                    )
                    self.message_user(
                        request, f"{agent.email} now supports {organization}."
                    )
                    return redirect(request.path)
            elif action == "revoke":
                agent = (
                    support_agents_of(organization)
                    .filter(pk=request.POST.get("agent") or None)
                    .first()
                )
                if agent is None:
                    self.message_user(
                        request, "That agent is not assigned here.", messages.ERROR
                    )
                    return redirect(request.path)
                if request.POST.get("confirm") != "yes":
                    confirm_revoke = agent
                else:
                    support_revoke(
                        actor=request.user, organization=organization, agent=agent
                    )
                    self.message_user(
                        request, f"{agent.email} no longer supports {organization}."
                    )
                    return redirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Support agents of {organization}",
            "opts": self.model._meta,
            "original": organization,
            "agents": support_agents_of(organization),
            "form": form,
            "confirm_revoke": confirm_revoke,
            "change_url": reverse(
                "admin:tenants_organization_change", args=[organization.pk]
            ),
        }
        return TemplateResponse(
            request, "admin/tenants/organization/support.html", context
        )
