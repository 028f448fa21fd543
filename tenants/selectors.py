"""Reads of tenants, and the one place that decides which organizations a user sees."""

from django.db.models import Exists, OuterRef, QuerySet

from tenants.models import (
    Membership,
    Organization,
    OrganizationUserObjectPermission,
    User,
)

SUPPORT_PERMISSION = "support_organization"


def sees_all_organizations(user) -> bool:
    return user.is_active and (
        user.is_superuser or user.has_perm("tenants.view_all_organizations")
    )


def organizations_visible_to(user) -> QuerySet[Organization]:
    """Organizations `user` may see: all for admins, managers and finance; the
    assigned ones (a guardian object permission) for support agents; none otherwise.

    The result is lazy, so callers can use it as a subquery.
    """
    organizations = Organization.all_objects.all()
    if not user.is_authenticated or not user.is_active:
        return organizations.none()
    if sees_all_organizations(user):
        return organizations
    return organizations.filter(
        Exists(
            OrganizationUserObjectPermission.objects.filter(
                content_object=OuterRef("pk"),
                user=user,
                permission__codename=SUPPORT_PERMISSION,
            )
        )
    )


def scope_to_user(queryset: QuerySet, user) -> QuerySet:
    """Limit a queryset of a tenant-owned model, Organization or User to `user`."""
    if user.is_authenticated and sees_all_organizations(user):
        return queryset
    visible = organizations_visible_to(user).values("pk")
    model = queryset.model
    if issubclass(model, Organization):
        return queryset.filter(pk__in=visible)
    if issubclass(model, User):
        return queryset.filter(
            Exists(
                Membership.objects.filter(user=OuterRef("pk"), organization__in=visible)
            )
        )
    if any(f.name == "organization" for f in model._meta.fields):
        return queryset.filter(organization__in=visible)
    # Global catalogues (plans) carry no tenant: the model permission decides.
    return queryset
