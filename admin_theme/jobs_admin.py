"""Jobs in the admin, in Unfold's style: schedules, queued, succeeded and failed runs.

Replaces django-q2's plain ModelAdmins (imported from AdminThemeConfig.ready, after
django-q2's admin module has registered them). Only platform admins (superusers)
add, change or delete schedules, and only for functions on
settings.JOB_FUNCTIONS_ALLOWED; the role matrix lets tenant managers view them.
"""

import datetime as dt

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db.models import OuterRef, Subquery
from django.template.defaultfilters import truncatechars
from django.utils import timezone
from django.utils.html import format_html
from django_q.conf import Conf
from django_q.models import Failure, OrmQ, Schedule, Success, Task
from unfold.admin import ModelAdmin
from unfold.decorators import action, display

from admin_theme.admin import CountSafeMixin
from audit.models import AuditEvent
from audit.services import audit_event_record, record_create, record_update
from tenants.job_support import job_run_again


def _is_platform_admin(request) -> bool:
    return request.user.is_active and request.user.is_superuser


def failed_jobs_last_24h(request) -> int:
    """Failed job runs in the last 24 hours (for a dashboard card or a badge)."""
    since = timezone.now() - dt.timedelta(hours=24)
    return Failure.objects.filter(stopped__gte=since).count()


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = [
            "name",
            "func",
            "args",
            "kwargs",
            "schedule_type",
            "minutes",
            "cron",
            "repeats",
            "next_run",
            "cluster",
        ]

    def clean(self):
        """Refuse a function that is not on settings.JOB_FUNCTIONS_ALLOWED."""
        cleaned_data = super().clean()
        func = cleaned_data.get("func")
        allowed = settings.JOB_FUNCTIONS_ALLOWED
        if func and func not in allowed:
            self.add_error(
                "func",
                f"“{func}” is not an allowed job function. Allowed: "
                f"{', '.join(allowed)} (settings.JOB_FUNCTIONS_ALLOWED).",
            )
        return cleaned_data


class ScheduleAdmin(CountSafeMixin, ModelAdmin):
    form = ScheduleForm
    list_display = (
        "name",
        "func",
        "display_cadence",
        "next_run",
        "display_last_run",
    )
    list_display_links = ("name",)
    search_fields = ("name", "func")
    list_filter = ("schedule_type",)
    ordering = ("next_run",)

    def get_queryset(self, request):
        """Schedules with the outcome of their last run, in the same query."""
        last = Task.objects.filter(id=OuterRef("task"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_task_name=Subquery(last.values("name")),
                last_task_success=Subquery(last.values("success")),
            )
        )

    def has_add_permission(self, request):
        """Platform admins only."""
        return _is_platform_admin(request)

    def has_change_permission(self, request, obj=None):
        """Platform admins only; a user with the view permission reads it."""
        return _is_platform_admin(request)

    def has_delete_permission(self, request, obj=None):
        """Platform admins only."""
        return _is_platform_admin(request)

    def save_model(self, request, obj, form, change):
        """Saves are validated, and audited with the platform admin's changes."""
        if not change:
            record_create(actor=request.user, instance=obj)
            return
        data = {name: getattr(obj, name) for name in form.changed_data}
        if {"cron", "schedule_type"} & set(data) and obj.schedule_type == obj.CRON:
            data["next_run"] = obj.calculate_next_run()
        record_update(
            actor=request.user, instance=Schedule.objects.get(pk=obj.pk), data=data
        )
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        """Deletes are audited."""
        audit_event_record(
            actor=request.user, action=AuditEvent.Action.DELETE, target=obj
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        """Bulk deletes are audited, one event per schedule."""
        for obj in queryset:
            self.delete_model(request, obj)

    @display(description="Cadence")
    def display_cadence(self, obj):
        if obj.schedule_type == Schedule.CRON:
            return f"cron {obj.cron} (UTC)"
        return obj.get_schedule_type_display()

    @display(
        description="Last run",
        label={"succeeded": "success", "failed": "danger"},
    )
    def display_last_run(self, obj):
        if obj.last_task_name is None:
            return None
        return "succeeded" if obj.last_task_success else "failed"


class _RunAdmin(CountSafeMixin, ModelAdmin):
    """Finished runs: read-only; platform admins may delete them."""

    list_display = ("name", "func", "group", "started", "stopped", "display_seconds")
    search_fields = ("name", "func", "group")
    list_filter = ("group",)
    fields = (
        "id",
        "name",
        "func",
        "args",
        "kwargs",
        "group",
        "cluster",
        "started",
        "stopped",
        "attempt_count",
        "display_result",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        """Runs come from the cluster, never from a form."""
        return False

    def has_change_permission(self, request, obj=None):
        """A run is a record: nobody edits it."""
        return False

    def has_delete_permission(self, request, obj=None):
        """Platform admins only."""
        return _is_platform_admin(request)

    @display(description="Seconds")
    def display_seconds(self, obj):
        return f"{obj.time_taken():.1f}"

    @display(description="Result")
    def display_result(self, obj):
        return format_html(
            '<pre style="white-space: pre-wrap">{}</pre>', str(obj.result)
        )


class SuccessAdmin(_RunAdmin):
    pass


class FailureAdmin(_RunAdmin):
    list_display = ("name", "func", "stopped", "attempt_count", "display_error")
    actions = ["run_again"]

    def has_run_again_permission(self, request):
        """Platform admins only."""
        return _is_platform_admin(request)

    @display(description="Error")
    def display_error(self, obj):
        return truncatechars(str(obj.result), 120)

    @action(description="Run again", permissions=["run_again"], icon="replay")
    def run_again(self, request, queryset):
        """Queue the selected failed runs again, each with its own arguments."""
        task_ids = [
            job_run_again(actor=request.user, failure=failure) for failure in queryset
        ]
        self.message_user(request, f"Queued {len(task_ids)} job(s) again.")


class QueuedAdmin(CountSafeMixin, ModelAdmin):
    """Runs waiting in the database broker; platform admins may drop one."""

    list_display = ("task_id", "name", "func", "key", "lock")
    fields = ("key", "task_id", "name", "func", "args", "kwargs", "lock")
    readonly_fields = fields

    def get_queryset(self, request):
        """The queue lives in the broker's database."""
        return super().get_queryset(request).using(Conf.ORM)

    def has_add_permission(self, request):
        """Tasks are queued by code, never by a form."""
        return False

    def has_change_permission(self, request, obj=None):
        """A queued task is not edited."""
        return False

    def has_delete_permission(self, request, obj=None):
        """Platform admins only."""
        return _is_platform_admin(request)


for _model in (Schedule, Success, Failure, OrmQ):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
admin.site.register(Schedule, ScheduleAdmin)
admin.site.register(Success, SuccessAdmin)
admin.site.register(Failure, FailureAdmin)
# The queue is a table only with the database broker (as in django-q2's admin).
if Conf.ORM or Conf.TESTING:
    admin.site.register(OrmQ, QueuedAdmin)
