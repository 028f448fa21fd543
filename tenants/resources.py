"""Import/export resources of organizations, memberships and billing.

Natural keys: an organization's slug, a user's email, a plan's code, an invoice's
number within its organization; a subscription is named by its id within its
organization. Every related key is resolved inside the importing user's scope.
"""

from import_export import fields, widgets

from audit.resources import NaturalKeyWidget, ScopedModelResource, register
from tenants.models import Invoice, Membership, Organization, Plan, Subscription, User


def organization_field() -> fields.Field:
    return fields.Field(
        attribute="organization",
        column_name="organization",
        widget=NaturalKeyWidget(Organization, "slug"),
    )


def user_field(name: str) -> fields.Field:
    return fields.Field(
        attribute=name,
        column_name=name,
        widget=NaturalKeyWidget(User, "email", lowercase=True),
    )


@register
class OrganizationResource(ScopedModelResource):
    created_at = fields.Field(
        attribute="created_at",
        column_name="created_at",
        widget=widgets.DateTimeWidget(),
        readonly=True,
    )

    class Meta:
        model = Organization
        fields = ("slug", "name", "status", "plan_tier", "created_at")
        export_order = fields
        import_id_fields = ("slug",)


@register
class MembershipResource(ScopedModelResource):
    organization = organization_field()
    user = user_field("user")

    class Meta:
        model = Membership
        fields = ("organization", "user", "role")
        export_order = fields
        import_id_fields = ("organization", "user")


@register
class PlanResource(ScopedModelResource):
    class Meta:
        model = Plan
        fields = (
            "code",
            "name",
            "tier",
            "monthly_price",
            "currency",
            "max_members",
            "max_projects",
            "is_active",
        )
        export_order = fields
        import_id_fields = ("code",)


@register
class SubscriptionResource(ScopedModelResource):
    organization = organization_field()
    plan = fields.Field(
        attribute="plan", column_name="plan", widget=NaturalKeyWidget(Plan, "code")
    )

    class Meta:
        model = Subscription
        fields = (
            "organization",
            "id",
            "plan",
            "status",
            "current_period_start",
            "current_period_end",
            "cancelled_at",
        )
        export_order = fields
        import_id_fields = ("organization", "id")


@register
class InvoiceResource(ScopedModelResource):
    organization = organization_field()
    subscription = fields.Field(
        attribute="subscription",
        column_name="subscription",
        widget=NaturalKeyWidget(Subscription, "id", per_organization=True),
    )

    class Meta:
        model = Invoice
        fields = (
            "organization",
            "number",
            "subscription",
            "amount",
            "currency",
            "status",
            "issued_on",
            "due_on",
            "paid_at",
        )
        export_order = fields
        import_id_fields = ("organization", "number")
