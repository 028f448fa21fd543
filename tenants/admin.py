from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    RangeDateFilter,
    RangeNumericFilter,
)
from unfold.decorators import action, display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from admin_theme.actions import confirmed_action, for_each
from admin_theme.admin import (
    BaseAdmin,
    BaseTabularInline,
    CountSafeMixin,
    RelatedListInline,
    TrashMixin,
)
from admin_theme.columns import badge, linked
from admin_theme.filters import ScopedAutocompleteFilter
from tenants import services
from tenants.admin_forms import ExtendForm, OptionalReasonForm, PlanTierForm, ReasonForm
from tenants.admin_support import SupportAgentsMixin
from tenants.models import Invoice, Membership, Organization, Plan, Subscription, User
from work.models import Project

STATUS_COLORS = {
    "active": "success",
    "suspended": "danger",
    "trialing": "info",
    "past_due": "warning",
    "expired": "danger",
    "cancelled": "danger",
    "draft": "info",
    "open": "warning",
    "paid": "success",
    "void": "danger",
}
TIER_COLORS = {
    "free": "info",
    "starter": "primary",
    "pro": "success",
    "enterprise": "warning",
}


def _count(queryset_or_model):
    """A correlated COUNT of the organization's rows of a model, for annotate()."""
    queryset = (
        queryset_or_model._default_manager.all()
        if isinstance(queryset_or_model, type)
        else queryset_or_model
    )
    rows = (
        queryset.filter(organization=OuterRef("pk")).order_by().values("organization")
    )
    return Coalesce(Subquery(rows.annotate(n=Count("pk")).values("n")), 0)


def _changelist_link(app_label, model, organization, count):
    url = reverse(f"admin:{app_label}_{model}_changelist")
    return format_html(
        '<a class="text-primary-600" href="{}?organization__id__exact={}">{}</a>',
        url,
        organization.pk,
        count,
    )


class MembershipInline(BaseTabularInline):
    model = Membership
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)
    list_select_related = ("user", "organization")
    per_page = 10
    tab = True


class SubscriptionInline(RelatedListInline):
    model = Subscription
    list_select_related = ("plan", "organization")
    fields = ("plan", "status", "current_period_start", "current_period_end")
    readonly_fields = fields
    per_page = 5
    tab = True


class InvoiceInline(RelatedListInline):
    model = Invoice
    list_select_related = ("organization",)
    fields = ("number", "amount", "currency", "status", "issued_on", "due_on")
    readonly_fields = fields
    per_page = 10
    tab = True


class ProjectInline(RelatedListInline):
    model = Project
    fields = ("key", "name", "status", "owner")
    readonly_fields = fields
    list_select_related = ("owner", "organization")
    per_page = 10
    tab = True


@admin.register(Organization)
class OrganizationAdmin(SupportAgentsMixin, TrashMixin, BaseAdmin):
    actions = [
        "suspend",
        "reactivate",
        "change_plan",
        "move_to_trash",
        "restore_from_trash",
    ]
    actions_detail = ["open_support_agents", "suspend_detail", "reactivate_detail"]
    list_display = (
        "name",
        "slug",
        "display_status",
        "display_tier",
        "display_members",
        "display_projects",
        "created_at",
    )
    list_filter = (
        ("status", ChoicesDropdownFilter),
        ("plan_tier", ChoicesDropdownFilter),
        ("created_at", RangeDateFilter),
    )
    list_filter_submit = True
    search_fields = ("name__trgm_icontains", "=slug")
    prepopulated_fields = {"slug": ("name",)}
    ordering = ("name",)
    readonly_fields = ("display_related",)
    fieldsets = (
        (
            "Details",
            {"fields": ("name", "slug", "status", "plan_tier"), "classes": ["tab"]},
        ),
        ("Related", {"fields": ("display_related",), "classes": ["tab"]}),
        (
            "Record",
            {"fields": ("created_at", "updated_at", "deleted_at"), "classes": ["tab"]},
        ),
    )
    inlines = (MembershipInline, SubscriptionInline, InvoiceInline, ProjectInline)

    def after_create(self, request, instance):
        _welcome_new_member(request, instance)  # members added inline

    def get_queryset(self, request):
        """Member and project counts as annotations: no query per row. An
        organization's own page shows neither (its tabs list the rows)."""
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and match.url_name == "tenants_organization_change":
            return queryset
        return queryset.annotate(
            member_count=_count(Membership),
            project_count=_count(Project.all_objects.filter(deleted_at__isnull=True)),
        )

    @display(description="Members", ordering="member_count")
    def display_members(self, obj):
        return _changelist_link("tenants", "membership", obj, obj.member_count)

    @display(description="Projects", ordering="project_count")
    def display_projects(self, obj):
        return _changelist_link("work", "project", obj, obj.project_count)

    @display(description="Related lists")
    def display_related(self, obj):
        links = [
            ("work", "task", "Tasks"),
            ("work", "project", "Projects"),
            ("tenants", "membership", "Members"),
            ("tenants", "subscription", "Subscriptions"),
            ("tenants", "invoice", "Invoices"),
            ("audit", "auditevent", "Audit events"),
        ]
        return format_html_join(
            " · ",
            '<a class="text-primary-600" href="{}?organization__id__exact={}">{}</a>',
            (
                (reverse(f"admin:{app}_{model}_changelist"), obj.pk, label)
                for app, model, label in links
            ),
        )

    @badge(STATUS_COLORS, description="Status", ordering="status")
    def display_status(self, obj):
        return obj.status

    def has_suspend_permission(self, request, object_id=None):
        return request.user.has_perm("tenants.suspend_organization")

    @admin.action(description="Suspend…", permissions=["suspend"])
    def suspend(self, request, queryset):
        return confirmed_action(
            self,
            request,
            queryset,
            title="Suspend organizations",
            perform=for_each(
                services.organization_suspend,
                "organization",
                request.user,
                "{count} organization(s) suspended.",
            ),
            form_class=ReasonForm,
            danger=True,
            button="Suspend",
        )

    @admin.action(description="Reactivate…", permissions=["suspend"])
    def reactivate(self, request, queryset):
        return confirmed_action(
            self,
            request,
            queryset,
            title="Reactivate organizations",
            perform=for_each(
                services.organization_reactivate,
                "organization",
                request.user,
                "{count} organization(s) reactivated.",
            ),
            form_class=ReasonForm,
            button="Reactivate",
        )

    @admin.action(description="Change plan…", permissions=["change"])
    def change_plan(self, request, queryset):
        return confirmed_action(
            self,
            request,
            queryset,
            title="Change plan tier",
            perform=for_each(
                services.organization_change_plan,
                "organization",
                request.user,
                "{count} organization(s) moved to the {plan_tier} tier.",
            ),
            form_class=PlanTierForm,
            button="Change plan",
        )

    def _detail(self, request, object_id, action_name):
        queryset = self.get_queryset(request).filter(pk=object_id)
        if not queryset.exists():
            raise Http404
        response = getattr(self, action_name)(request, queryset)
        return response or redirect("admin:tenants_organization_change", object_id)

    @action(description="Suspend", icon="block", permissions=["suspend"])
    def suspend_detail(self, request, object_id):
        return self._detail(request, object_id, "suspend")

    @action(description="Reactivate", icon="restart_alt", permissions=["suspend"])
    def reactivate_detail(self, request, object_id):
        return self._detail(request, object_id, "reactivate")

    @action(
        description="Support agents",
        icon="support_agent",
        permissions=["assign_support"],
    )
    def open_support_agents(self, request, object_id):
        return redirect("admin:tenants_organization_support", object_id)

    @badge(TIER_COLORS, description="Plan tier", ordering="plan_tier")
    def display_tier(self, obj):
        return obj.plan_tier


@admin.register(User)
class UserAdmin(BaseAdmin, DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ("email", "full_name", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("email__trgm_icontains", "full_name__trgm_icontains")
    ordering = ("email",)
    readonly_fields = ("last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        (
            "Access",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups")},
        ),
        ("Record", {"fields": ("last_login", "date_joined", "updated_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "full_name", "password1", "password2"),
            },
        ),
    )
    filter_horizontal = ("groups",)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(CountSafeMixin, ModelAdmin):
    """Roles. Only platform admins (superusers) edit them."""

    list_display = ("name",)
    search_fields = ("name",)
    filter_horizontal = ("permissions",)


def _welcome_new_member(request, instance) -> None:
    if isinstance(instance, Membership):
        services.membership_welcome_queue(membership=instance)


@admin.register(Membership)
class MembershipAdmin(BaseAdmin):
    def after_create(self, request, instance):
        _welcome_new_member(request, instance)

    list_display = (linked("user"), linked("organization"), "role", "created_at")
    list_select_related = ("user", "organization")
    list_filter = (
        ("organization", ScopedAutocompleteFilter),
        ("role", ChoicesDropdownFilter),
    )
    list_filter_submit = True
    search_fields = (
        "user__email__trgm_icontains",
        "organization__name__trgm_icontains",
    )
    autocomplete_fields = ("user", "organization")
    ordering = ("-created_at",)


@admin.register(Plan)
class PlanAdmin(BaseAdmin):
    list_display = (
        "code",
        "name",
        "display_tier",
        "monthly_price",
        "currency",
        "is_active",
    )
    list_filter = ("tier", "is_active", "currency")
    search_fields = ("code", "name")
    ordering = ("monthly_price",)

    @badge(TIER_COLORS, description="Tier", ordering="tier")
    def display_tier(self, obj):
        return obj.tier


@admin.register(Subscription)
class SubscriptionAdmin(BaseAdmin):
    list_display = (
        "id",
        linked("organization"),
        linked("plan"),
        "display_status",
        "current_period_start",
        "current_period_end",
    )
    list_select_related = ("organization", "plan")
    list_filter = (
        ("organization", ScopedAutocompleteFilter),
        ("status", ChoicesDropdownFilter),
        ("current_period_end", RangeDateFilter),
    )
    list_filter_submit = True
    search_fields = ("organization__name__trgm_icontains", "=plan__code")
    autocomplete_fields = ("organization",)
    ordering = ("-current_period_end",)
    actions = ["extend", "cancel"]

    @badge(STATUS_COLORS, description="Status", ordering="status")
    def display_status(self, obj):
        return obj.status

    @admin.action(description="Extend period…", permissions=["change"])
    def extend(self, request, queryset):
        return confirmed_action(
            self,
            request,
            queryset,
            title="Extend subscriptions",
            perform=for_each(
                services.subscription_extend,
                "subscription",
                request.user,
                "{count} subscription(s) extended by {days} days.",
            ),
            form_class=ExtendForm,
            button="Extend",
        )

    @admin.action(description="Cancel…", permissions=["change"])
    def cancel(self, request, queryset):
        return confirmed_action(
            self,
            request,
            queryset,
            title="Cancel subscriptions",
            perform=for_each(
                services.subscription_cancel,
                "subscription",
                request.user,
                "{count} subscription(s) cancelled.",
            ),
            form_class=OptionalReasonForm,
            danger=True,
            button="Cancel subscriptions",
        )


@admin.register(Invoice)
class InvoiceAdmin(BaseAdmin):
    list_display = (
        "number",
        linked("organization"),
        linked("subscription"),
        "amount",
        "currency",
        "display_status",
        "issued_on",
        "due_on",
        "paid_at",
    )
    list_select_related = (
        "organization",
        "subscription__plan",
        "subscription__organization",
    )
    list_filter = (
        ("organization", ScopedAutocompleteFilter),
        ("status", ChoicesDropdownFilter),
        ("amount", RangeNumericFilter),
        ("due_on", RangeDateFilter),
    )
    list_filter_submit = True
    search_fields = ("=number", "organization__name__trgm_icontains")
    autocomplete_fields = ("organization", "subscription")
    ordering = ("-issued_on", "-id")
    actions = ["mark_paid", "void"]

    @badge(STATUS_COLORS, description="Status", ordering="status")
    def display_status(self, obj):
        return obj.status

    @admin.action(description="Mark paid", permissions=["change"])
    def mark_paid(self, request, queryset):
        return confirmed_action(
            self,
            request,
            queryset,
            title="Mark invoices paid",
            perform=for_each(
                services.invoice_mark_paid,
                "invoice",
                request.user,
                "{count} invoice(s) marked paid.",
            ),
            button="Mark paid",
        )

    @admin.action(description="Void…", permissions=["change"])
    def void(self, request, queryset):
        return confirmed_action(
            self,
            request,
            queryset,
            title="Void invoices",
            perform=for_each(
                services.invoice_void,
                "invoice",
                request.user,
                "{count} invoice(s) voided.",
            ),
            form_class=OptionalReasonForm,
            danger=True,
            button="Void",
        )
