from django.contrib import admin, messages
from django.http import Http404
from django.shortcuts import redirect
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    RangeDateFilter,
)
from unfold.decorators import action

from admin_theme.actions import confirmed_action
from admin_theme.admin import BaseAdmin, BaseTabularInline, TrashMixin
from admin_theme.columns import badge, linked
from admin_theme.filters import ScopedAutocompleteFilter
from tenants import selectors
from work import services
from work.admin_forms import AssignForm, DueDateForm, MoveForm, StatusForm
from work.models import Comment, Notification, Project, Tag, Task

TASK_STATUS_COLORS = {
    "TODO": "info",
    "IN_PROGRESS": "warning",
    "DONE": "success",
    "CANCELLED": "danger",
}
PRIORITY_COLORS = {
    "Low": "info",
    "Medium": "primary",
    "High": "warning",
    "Urgent": "danger",
}


class TaskInline(BaseTabularInline):
    """The project's tasks, a page at a time (projects can hold 100k tasks)."""

    model = Task
    fields = ("title", "status", "priority", "assignee", "due_date")
    autocomplete_fields = ("assignee",)
    per_page = 20
    tab = True
    ordering = ("-created_at", "-id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("assignee")

    def has_add_permission(self, request, obj=None):
        return False  # tasks are created from the task list, with their organization


@admin.register(Project)
class ProjectAdmin(TrashMixin, BaseAdmin):
    inlines = (TaskInline,)
    list_display = (
        "key",
        "name",
        linked("organization"),
        "display_status",
        linked("owner"),
        "created_at",
    )
    list_select_related = ("organization", "owner")
    list_filter = (
        ("organization", ScopedAutocompleteFilter),
        ("status", ChoicesDropdownFilter),
    )
    list_filter_submit = True
    search_fields = ("name__trgm_icontains", "=key")
    autocomplete_fields = ("organization", "owner")
    ordering = ("organization_id", "key")

    @badge(
        {"active": "success", "archived": "info"},
        description="Status",
        ordering="status",
    )
    def display_status(self, obj):
        return obj.status


class CommentInline(BaseTabularInline):
    model = Comment
    fields = ("author", "content", "is_edited", "created_at")
    readonly_fields = ("author", "is_edited", "created_at")
    per_page = 20


@admin.register(Task)
class TaskAdmin(TrashMixin, BaseAdmin):
    list_display = (
        "id",
        "title",
        linked("project"),
        linked("organization"),
        "display_status",
        "display_priority",
        linked("assignee"),
        "due_date",
    )
    list_select_related = ("project", "organization", "assignee")
    list_filter = (
        ("organization", ScopedAutocompleteFilter),
        ("project", ScopedAutocompleteFilter),
        ("assignee", ScopedAutocompleteFilter),
        ("status", ChoicesDropdownFilter),
        ("priority", ChoicesDropdownFilter),
        ("due_date", RangeDateFilter),
        ("created_at", RangeDateFilter),
    )
    list_filter_submit = True
    search_fields = ("title__trgm_icontains",)
    autocomplete_fields = ("organization", "project", "assignee", "reporter", "tags")
    ordering = ("-created_at", "-id")
    inlines = (CommentInline,)
    fieldsets = (
        (None, {"fields": ("organization", "project", "title", "description")}),
        (
            "Planning",
            {
                "fields": (
                    "status",
                    "priority",
                    "assignee",
                    "reporter",
                    "due_date",
                    "completed_at",
                    "tags",
                )
            },
        ),
        ("Custom fields", {"fields": ("custom_fields",)}),
        ("Record", {"fields": ("created_at", "updated_at", "deleted_at")}),
    )

    actions = [
        "assign",
        "change_status",
        "set_due_date",
        "move",
        "move_to_trash",
        "restore_from_trash",
    ]
    actions_row = ["mark_done"]
    actions_detail = ["mark_done_detail"]

    @badge(TASK_STATUS_COLORS, description="Status", ordering="status")
    def display_status(self, obj):
        return obj.status

    @badge(PRIORITY_COLORS, description="Priority", ordering="priority")
    def display_priority(self, obj):
        return obj.get_priority_display()

    # --- actions: each confirms, then calls a service -----------------------------
    @admin.action(description="Assign to…", permissions=["change"])
    def assign(self, request, queryset):
        def perform(tasks, data):
            count = services.tasks_assign(
                actor=request.user, tasks=tasks, assignee=data["assignee"]
            )
            return f"{count} task(s) assigned to {data['assignee'].email}."

        return confirmed_action(
            self,
            request,
            queryset,
            title="Assign tasks",
            perform=perform,
            form_class=AssignForm,
            form_kwargs={"tasks": queryset},
            button="Assign",
        )

    @admin.action(description="Change status…", permissions=["change"])
    def change_status(self, request, queryset):
        def perform(tasks, data):
            count = services.tasks_set_status(
                actor=request.user, tasks=tasks, status=data["status"]
            )
            label = Task.Status(data["status"]).label
            return f"{count} task(s) moved to {label}."

        return confirmed_action(
            self,
            request,
            queryset,
            title="Change status",
            perform=perform,
            form_class=StatusForm,
        )

    @admin.action(description="Set due date…", permissions=["change"])
    def set_due_date(self, request, queryset):
        def perform(tasks, data):
            count = services.tasks_set_due_date(
                actor=request.user, tasks=tasks, due_date=data["due_date"]
            )
            when = data["due_date"] or "no due date"
            return f"{count} task(s) now due {when}."

        return confirmed_action(
            self,
            request,
            queryset,
            title="Set due date",
            perform=perform,
            form_class=DueDateForm,
        )

    @admin.action(description="Move to project…", permissions=["change"])
    def move(self, request, queryset):
        if queryset.values("organization_id").distinct().count() > 1:
            self.message_user(
                request,
                "The selected tasks belong to several organizations; tasks can only "
                "move within one organization. Filter by organization first.",
                messages.ERROR,
            )
            return None
        projects = selectors.scope_to_user(Project.objects.all(), request.user)

        def perform(tasks, data):
            count = services.tasks_move(
                actor=request.user, tasks=tasks, project=data["project"]
            )
            return f"{count} task(s) moved to {data['project']}."

        return confirmed_action(
            self,
            request,
            queryset,
            title="Move tasks",
            perform=perform,
            form_class=MoveForm,
            form_kwargs={"tasks": queryset, "projects": projects},
            button="Move",
        )

    def prepare_inline_instance(self, request, instance, adding):
        """A comment added on the task page is written by whoever adds it."""
        if adding and isinstance(instance, Comment):
            instance.author = request.user

    def _mark_done(self, request, object_id):
        """Row and detail action: confirm (GET shows the page), then mark done."""
        tasks = self.get_queryset(request).filter(pk=object_id)
        if not tasks.exists():
            raise Http404

        def perform(selected, data):
            services.tasks_set_status(
                actor=request.user, tasks=selected, status=Task.Status.DONE
            )
            return f"{selected[0]} marked done."

        return confirmed_action(
            self,
            request,
            tasks,
            title="Mark the task done",
            perform=perform,
            button="Mark done",
        )

    @action(description="Mark done", icon="check", permissions=["change"])
    def mark_done(self, request, object_id):
        response = self._mark_done(request, object_id)
        return response or redirect("admin:work_task_changelist")

    @action(description="Mark done", icon="check", permissions=["change"])
    def mark_done_detail(self, request, object_id):
        response = self._mark_done(request, object_id)
        return response or redirect("admin:work_task_change", object_id)


@admin.register(Comment)
class CommentAdmin(TrashMixin, BaseAdmin):
    list_display = ("id", linked("task"), linked("author"), "is_edited", "created_at")
    list_select_related = ("task", "author")
    list_filter = (("organization", ScopedAutocompleteFilter), "is_edited")
    list_filter_submit = True
    search_fields = ("content__trgm_icontains",)
    autocomplete_fields = ("organization", "task", "author")
    readonly_fields = ("is_edited", "edit_history")
    ordering = ("-created_at", "-id")


@admin.register(Tag)
class TagAdmin(BaseAdmin):
    list_display = ("name", linked("organization"), "color")
    list_select_related = ("organization",)
    list_filter = (("organization", ScopedAutocompleteFilter),)
    list_filter_submit = True
    search_fields = ("name",)
    autocomplete_fields = ("organization",)
    ordering = ("organization_id", "name")


@admin.register(Notification)
class NotificationAdmin(BaseAdmin):
    list_display = (linked("recipient"), "category", "message", "read_at", "created_at")
    list_select_related = ("recipient",)
    list_filter = (("organization", ScopedAutocompleteFilter), "category")
    list_filter_submit = True
    search_fields = ("=recipient__email",)
    autocomplete_fields = ("organization", "recipient")
    ordering = ("-created_at", "-id")
