from django.contrib import admin
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    RangeDateFilter,
)
from unfold.decorators import display

from admin_theme.admin import BaseAdmin, BaseTabularInline
from admin_theme.filters import ScopedAutocompleteFilter
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


@admin.register(Project)
class ProjectAdmin(BaseAdmin):
    list_display = (
        "key",
        "name",
        "organization",
        "display_status",
        "owner",
        "created_at",
    )
    list_select_related = ("organization", "owner")
    list_filter = (
        ("organization", ScopedAutocompleteFilter),
        ("status", ChoicesDropdownFilter),
    )
    list_filter_submit = True
    search_fields = ("name", "=key")
    autocomplete_fields = ("organization", "owner")
    ordering = ("organization_id", "key")

    @display(
        description="Status",
        ordering="status",
        label={"active": "success", "archived": "info"},
    )
    def display_status(self, obj):
        return obj.status


class CommentInline(BaseTabularInline):
    model = Comment
    fields = ("author", "content", "is_edited", "created_at")
    readonly_fields = ("author", "is_edited", "created_at")
    per_page = 20


@admin.register(Task)
class TaskAdmin(BaseAdmin):
    list_display = (
        "id",
        "title",
        "project",
        "organization",
        "display_status",
        "display_priority",
        "assignee",
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
    )
    list_filter_submit = True
    search_fields = ("title",)
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

    @display(description="Status", ordering="status", label=TASK_STATUS_COLORS)
    def display_status(self, obj):
        return obj.status

    @display(description="Priority", ordering="priority", label=PRIORITY_COLORS)
    def display_priority(self, obj):
        return obj.get_priority_display()


@admin.register(Comment)
class CommentAdmin(BaseAdmin):
    list_display = ("id", "task", "author", "is_edited", "created_at")
    list_select_related = ("task", "author")
    list_filter = (("organization", ScopedAutocompleteFilter), "is_edited")
    list_filter_submit = True
    search_fields = ("=task__id",)
    autocomplete_fields = ("organization", "task", "author")
    readonly_fields = ("is_edited", "edit_history")
    ordering = ("-created_at", "-id")


@admin.register(Tag)
class TagAdmin(BaseAdmin):
    list_display = ("name", "organization", "color")
    list_select_related = ("organization",)
    list_filter = (("organization", ScopedAutocompleteFilter),)
    list_filter_submit = True
    search_fields = ("name",)
    autocomplete_fields = ("organization",)
    ordering = ("organization_id", "name")


@admin.register(Notification)
class NotificationAdmin(BaseAdmin):
    list_display = ("recipient", "category", "message", "read_at", "created_at")
    list_select_related = ("recipient",)
    list_filter = (("organization", ScopedAutocompleteFilter), "category")
    list_filter_submit = True
    search_fields = ("message",)
    autocomplete_fields = ("organization", "recipient")
    ordering = ("-created_at", "-id")
