"""The shared base every ModelAdmin inherits: Unfold + history + tenant scoping.

A model registered with `BaseAdmin` is scoped to what the user may see on the
changelist, change/delete views and FK choices, and its form saves go through
the audit services (history with the actor, an audit event).
"""

from django.contrib import admin
from django.db import models
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin, StackedInline, TabularInline

from audit.services import record_create, record_update
from tenants.models import Organization, User
from tenants.selectors import scope_to_user


def _is_scoped_model(model) -> bool:
    return issubclass(model, (Organization, User)) or any(
        f.name == "organization" for f in model._meta.fields
    )


class ScopedFormFieldsMixin:
    """FK/M2M choices, and so posted ids, limited to the user's view."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "queryset" not in kwargs and _is_scoped_model(db_field.related_model):
            kwargs["queryset"] = scope_to_user(
                db_field.related_model._default_manager.all(), request.user
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "queryset" not in kwargs and _is_scoped_model(db_field.related_model):
            kwargs["queryset"] = scope_to_user(
                db_field.related_model._default_manager.all(), request.user
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class BaseAdmin(ScopedFormFieldsMixin, SimpleHistoryAdmin, ModelAdmin):
    # Read-only bookkeeping shown on every change form when the model has it.
    audit_readonly_fields = ("created_at", "updated_at", "deleted_at")
    list_per_page = 50
    show_full_result_count = False
    compressed_fields = True
    warn_unsaved_form = True

    def get_queryset(self, request):
        """The model's rows that the user's organizations allow, nothing else."""
        return scope_to_user(super().get_queryset(request), request.user)

    def get_readonly_fields(self, request, obj=None):
        """Declared read-only fields plus the bookkeeping timestamps the model has."""
        names = {f.name for f in self.model._meta.fields}
        extra = [f for f in self.audit_readonly_fields if f in names]
        return (*super().get_readonly_fields(request, obj), *extra)

    def save_model(self, request, obj, form, change):
        """Form saves go through the audit services: history with actor, audit event."""
        if not change:
            record_create(actor=request.user, instance=obj)
            return
        original = type(obj)._base_manager.get(pk=obj.pk)
        concrete = {
            f.name
            for f in obj._meta.concrete_fields
            if not isinstance(f, models.ManyToManyField)
        }
        data = {
            name: getattr(obj, name) for name in form.changed_data if name in concrete
        }
        record_update(actor=request.user, instance=original, data=data)
        obj.refresh_from_db()


class BaseTabularInline(ScopedFormFieldsMixin, TabularInline):
    extra = 0
    show_change_link = True


class BaseStackedInline(ScopedFormFieldsMixin, StackedInline):
    extra = 0
    show_change_link = True


__all__ = ["BaseAdmin", "BaseStackedInline", "BaseTabularInline", "admin"]
