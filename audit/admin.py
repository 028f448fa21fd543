from django.contrib import admin
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    RangeDateTimeFilter,
)

from admin_theme.admin import ScopedAdminMixin
from admin_theme.filters import ScopedAutocompleteFilter
from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ScopedAdminMixin, ModelAdmin):
    """Read-only for everyone, platform admins included: append-only."""

    list_display = (
        "created_at",
        "actor_label",
        "action",
        "target_repr",
        "organization",
        "ip_address",
    )
    list_select_related = ("organization",)
    list_filter = (
        ("action", ChoicesDropdownFilter),
        ("organization", ScopedAutocompleteFilter),
        ("created_at", RangeDateTimeFilter),
    )
    list_filter_submit = True
    search_fields = ("actor_label", "target_repr")
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    readonly_fields = [f.name for f in AuditEvent._meta.fields if f.name != "id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
