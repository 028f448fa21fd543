"""Import jobs, read-only: each user sees their own imports, platform admins all."""

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter
from unfold.decorators import display

from admin_theme.admin import CountSafeMixin
from admin_theme.columns import badge
from audit.imports.selectors import import_jobs_visible_to
from audit.models import ImportJob

STATUS_COLORS = {
    "queued": "warning",
    "running": "warning",
    "previewed": "info",
    "succeeded": "success",
    "failed": "danger",
    "expired": "info",
}


@admin.register(ImportJob)
class ImportJobAdmin(CountSafeMixin, ModelAdmin):
    list_display = (
        "created_at",
        "display_file",
        "model",
        "display_status",
        "user_label",
        "total_rows",
        "rows_new",
        "rows_updated",
        "rows_unchanged",
        "rows_with_errors",
        "duration",
    )
    list_filter = (
        ("status", ChoicesDropdownFilter),
        "model",
        "file_format",
        ("created_at", RangeDateTimeFilter),
    )
    list_filter_submit = True
    search_fields = ("file_name", "=file_sha256", "=operation_id", "user_label")
    ordering = ("-created_at", "-id")
    exclude = ("payload", "errors", "preview")
    readonly_fields = [
        f.name
        for f in ImportJob._meta.fields
        if f.name not in ("id", "payload", "errors", "preview")
    ]

    def get_queryset(self, request):
        """The user's own imports; every import for platform admins."""
        return import_jobs_visible_to(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @display(description="File", ordering="file_name")
    def display_file(self, obj):
        """The file name, linking to the job's page (preview, errors, result)."""
        app_label, model_name = obj.model.split(".")
        try:
            url = reverse(
                f"admin:{app_label}_{model_name}_import_job",
                args=[obj.pk],
                current_app=self.admin_site.name,
            )
        except NoReverseMatch:
            return obj.file_name
        return format_html('<a href="{}">{}</a>', url, obj.file_name)

    @badge(STATUS_COLORS, description="Status", ordering="status")
    def display_status(self, obj):
        return obj.status
