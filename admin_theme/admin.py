"""The shared base every ModelAdmin inherits: Unfold + history + tenant scoping.

`ScopedAdminMixin` applies `tenants.selectors.scope_to_user` to every surface the
admin offers for a model: changelist, change/delete/history views (a foreign id
answers 404 like a missing one), history records and history-form/revert views,
FK and M2M choices (and so the validation of posted ids), autocomplete (served
from the related model's scoped `get_queryset`) and inline querysets. Form saves
go through the audit services: history with the actor, an audit event.
"""

import contextlib

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ORDER_VAR, PAGE_VAR, SEARCH_VAR
from django.db import models
from django.forms.utils import flatatt
from django.http import Http404
from django.utils.safestring import mark_safe
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin, StackedInline, TabularInline
from unfold.admin import checkbox as row_checkbox
from unfold.decorators import display
from unfold.views import ChangeList

from admin_theme import search
from admin_theme.actions import confirmed_action
from admin_theme.import_export import ScopedImportExportMixin
from admin_theme.models import SavedView
from admin_theme.paginator import EstimatedCountPaginator, LookaheadPaginator
from admin_theme.result_rows import escape
from admin_theme.widgets import KnownRowAutocompleteSelect, KnownRowsInlineFormSet
from audit.admin_history import HistoryAdminMixin
from audit.services import (
    VersionConflict,
    record_create,
    record_update,
    records_delete,
    records_restore,
    records_soft_delete,
)
from tenants import selectors
from tenants.models import Organization


def _scoped_choices(db_field, request, kwargs) -> dict:
    if (
        "queryset" not in kwargs
        and selectors.scope_rule(db_field.related_model) != "global"
    ):
        kwargs["queryset"] = selectors.scope_to_user(
            db_field.related_model._default_manager.all(), request.user
        )
    return kwargs


class ScopedFormFieldsMixin:
    """FK/M2M choices, and so the posted ids they accept, limited to the user's view."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs = _scoped_choices(db_field, request, kwargs)
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(
            request
        ):
            kwargs["widget"] = KnownRowAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs = _scoped_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class IndexedOrderingChangeList(ChangeList):
    """A column the user sorts by is tied by the id in the same direction:
    `due_date, id` and `-due_date, -id`. Django appends the admin's default
    ordering instead (`due_date, -created_at, -id`), which no index has: PostgreSQL
    read each candidate row from the table to sort ties. One index on (column, id)
    now serves both directions, read forwards or backwards."""

    def get_ordering(self, request, queryset):
        if not self.params.get(ORDER_VAR):
            return super().get_ordering(request, queryset)
        ordering = super().get_ordering(request, queryset.order_by())
        first = ordering[0]
        if ordering[-1] == "-pk" and isinstance(first, str) and first[0] != "-":
            ordering[-1] = "pk"
        return ordering

    def get_results(self, request):
        """A list that fits on one page is read by Django again, whole: its full
        query, joins and search included. Where the paginator read the list's
        ordered ids already (an agent's search: the bitmaps of the scope and the
        search, 7 ms at 1M tasks), its first page is those rows by id."""
        super().get_results(request)
        if not self.multi_page and getattr(self.paginator, "count_from_ids", False):
            self.result_list = self.paginator.page(1).object_list


class CountSafeMixin:
    """No unbounded COUNT(*) on a changelist: exact up to 1,000 rows, PostgreSQL's
    estimate beyond, and no second "total" count; autocomplete answers count
    nothing; sorted columns tie by id (IndexedOrderingChangeList). Every
    ModelAdmin uses it."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_changelist(self, request, **kwargs):
        return IndexedOrderingChangeList

    def get_ordering(self, request):
        """Autocomplete answers newest first: PostgreSQL walks the primary key
        backwards until a page of matches is found, however many rows the table
        holds. The admin's ordering (projects by organization and key) walked
        10,017 projects of the largest organization, none named "web", before the
        first match at 1M tasks (20 ms against 0.5)."""
        if _is_autocomplete(request):
            return ("-pk",)
        return super().get_ordering(request)

    def get_paginator(self, request, queryset, per_page, *args, **kwargs):
        if _is_autocomplete(request):
            return LookaheadPaginator(queryset, per_page, *args, **kwargs)
        paginator = super().get_paginator(request, queryset, per_page, *args, **kwargs)
        if isinstance(paginator, EstimatedCountPaginator):
            with contextlib.suppress(ValueError):  # as Django's ChangeList reads it
                paginator.page_number = int(request.GET.get(PAGE_VAR, 1))
            if request.GET.get(SEARCH_VAR):
                scoped = selectors.organizations_in_scope(request.user) is not None
                paginator.count_from_ids = scoped
                paginator.count_by_bitmaps = not scoped
            if queryset.model is self.model:
                paginator.rows_source = self.get_queryset(request)
        return paginator


def _is_autocomplete(request) -> bool:
    match = request.resolver_match
    return match is not None and match.url_name == "autocomplete"


class ScopedAdminMixin(CountSafeMixin, ScopedFormFieldsMixin):
    def get_queryset(self, request):
        """The model's rows that the user's organizations allow, nothing else."""
        return selectors.scope_to_user(super().get_queryset(request), request.user)

    def get_search_results(self, request, queryset, search_term):
        """The declared search fields, plus the row's id when the term is a number;
        the scope written for the (organization, search) indexes where there are
        some.

        A list's search reads every match (for its count), which the keys by
        organization answer best (`search.for_search_indexes`); an autocomplete
        reads the 20 newest, which walking the newest rows finds first for a
        common term (the mixed agent's tasks "inv" at 1M: 1 ms), where the
        keys, whose selectivity PostgreSQL cannot estimate, made it read all
        13k matches (28 ms): it keeps the column's own trigram index."""
        results, may_have_duplicates = super().get_search_results(
            request, queryset, search_term
        )
        term = search_term.strip().lstrip("#")
        # ASCII digits only: "²" is a digit to str.isdigit, not to int().
        if term.isascii() and term.isdigit() and len(term) < 19:
            results |= queryset.filter(pk=int(term))
        if search_term and _is_autocomplete(request):
            results = selectors.overlapping(results)
        elif search_term:
            results = search.for_search_indexes(
                results, selectors.organizations_in_scope(request.user)
            )
        return results, may_have_duplicates

    def get_paginator(self, request, queryset, per_page, *args, **kwargs):
        """Lists of organization-owned rows know the organizations they span, so
        a page can be read organization by organization (`merged_page_ids`).
        Not a changelist search: its trigram index is read once for the whole
        list, where merged PostgreSQL read it again for each organization (the
        mixed agent's search: 3 x 8 ms)."""
        paginator = super().get_paginator(request, queryset, per_page, *args, **kwargs)
        if (
            queryset.model is self.model
            and selectors.scope_rule(self.model) == "tenant"
            and not request.GET.get(SEARCH_VAR)
        ):
            paginator.organizations = selectors.organizations_in_scope(request.user)
        return paginator

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django redirects to the index with "doesn't exist"; a foreign id must be
        # indistinguishable from a missing one, and both are a plain 404.
        raise Http404


def _is_versioned(model) -> bool:
    return any(f.name == "version" for f in model._meta.concrete_fields)


class VersionCheckedForm(forms.ModelForm):
    """Carries the version the user started from; refuses to save over a newer one.

    The user's input stays in the form with the conflict message, so nothing typed
    is lost; the service re-checks under a row lock when saving.
    """

    version_seen = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["version_seen"].initial = self.instance.version

    def clean(self):
        cleaned = super().clean()
        seen = cleaned.get("version_seen")
        if self.instance.pk and seen is not None:
            current = type(self.instance)._base_manager.values_list(
                "version", flat=True
            )
            if current.get(pk=self.instance.pk) != seen:
                raise VersionConflict(self.instance)
        return cleaned


_ROW_CHECKBOX = f'<input type="checkbox" name="{helpers.ACTION_CHECKBOX_NAME}" value="'
_ROW_CHECKBOX_END = f'"{flatatt(row_checkbox.attrs)}>'


class BaseAdmin(
    ScopedImportExportMixin,
    ScopedAdminMixin,
    HistoryAdminMixin,
    SimpleHistoryAdmin,
    ModelAdmin,
):
    # Read-only bookkeeping shown on every change form when the model has it.
    audit_readonly_fields = ("created_at", "updated_at", "deleted_at")
    list_per_page = 50
    list_before_template = "admin_theme/saved_views_bar.html"
    compressed_fields = True
    warn_unsaved_form = True
    # Options Unfold's templates read but its ModelAdmin does not define: a missing
    # attribute makes the template engine call dir() on the admin, twice per row.
    list_sections = ()
    list_sections_classes = ""
    conditional_fields = {}
    change_form_show_cancel_button = False

    @display(description=ModelAdmin.action_checkbox.short_description)
    def action_checkbox(self, obj):
        """Unfold's row checkbox, without rendering a widget template per row."""
        return mark_safe(f"{_ROW_CHECKBOX}{escape(obj.pk)}{_ROW_CHECKBOX_END}")

    def get_readonly_fields(self, request, obj=None):
        """Declared read-only fields plus the bookkeeping timestamps the model has."""
        names = {f.name for f in self.model._meta.fields}
        extra = [f for f in self.audit_readonly_fields if f in names]
        return (*super().get_readonly_fields(request, obj), *extra)

    def get_form(self, request, obj=None, **kwargs):
        """Change forms of versioned models carry the version they started from."""
        if obj is not None and _is_versioned(self.model):
            base = (
                self.form if issubclass(self.form, forms.ModelForm) else forms.ModelForm
            )
            kwargs["form"] = type(
                "Versioned" + base.__name__, (VersionCheckedForm, base), {}
            )
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        """Declared fieldsets, plus the hidden version field on versioned models."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not _is_versioned(self.model) or not self.fieldsets:
            return fieldsets
        (name, options), *rest = fieldsets
        first = (name, {**options, "fields": (*options["fields"], "version_seen")})
        return [first, *rest]

    def save_formset(self, request, form, formset, change):
        """Inline rows too: new rows take the parent's organization, and every row
        is saved through the audit services; removed rows keep their history."""
        parent = form.instance
        organization_id = (
            parent.pk if isinstance(parent, Organization) else parent.organization_id
        )
        instances = formset.save(commit=False)
        records_delete(actor=request.user, instances=formset.deleted_objects)
        forms_by_instance = {id(f.instance): f for f in formset.forms}
        for instance in instances:
            adding = instance._state.adding
            if adding and hasattr(instance, "organization_id"):
                instance.organization_id = organization_id
            self.prepare_inline_instance(request, instance, adding)
            save_through_services(
                request, instance, forms_by_instance[id(instance)], not adding
            )
            if adding:
                self.after_create(request, instance)
        formset.save_m2m()

    def save_model(self, request, obj, form, change):
        """Form saves go through the audit services: history with actor, audit event."""
        save_through_services(request, obj, form, change)
        if not change:
            self.after_create(request, obj)

    def delete_model(self, request, obj):
        """Hard deletes keep their history (by the user) and an audit event."""
        records_delete(actor=request.user, instances=[obj])

    def delete_queryset(self, request, queryset):
        """The bulk "delete" action, like `delete_model` for each row."""
        records_delete(actor=request.user, instances=queryset)

    def prepare_inline_instance(self, request, instance, adding: bool) -> None:
        """Hook for admins whose inline rows need more than the parent (an author)."""

    def after_create(self, request, instance) -> None:
        """Hook for the side effects a service queues on creation (welcome emails)."""


def save_through_services(request, obj, form, change) -> None:
    """Create or update `obj` from an admin form via the audit services."""
    if not change:
        record_create(actor=request.user, instance=obj)
        return
    original = type(obj)._base_manager.get(pk=obj.pk)
    concrete = {
        f.name
        for f in obj._meta.concrete_fields
        if not isinstance(f, models.ManyToManyField)
    }
    data = {name: getattr(obj, name) for name in form.changed_data if name in concrete}
    record_update(
        actor=request.user,
        instance=original,
        data=data,
        expected_version=form.cleaned_data.get("version_seen"),
    )
    obj.refresh_from_db()


class ScopedInlineMixin(ScopedFormFieldsMixin):
    extra = 0
    show_change_link = True
    # Related rows the inline shows (and their __str__ reads), fetched with it.
    list_select_related: tuple[str, ...] = ()
    formset = KnownRowsInlineFormSet

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self.list_select_related:
            queryset = queryset.select_related(*self.list_select_related)
        return selectors.scope_to_user(queryset, request.user)


class BaseTabularInline(ScopedInlineMixin, TabularInline):
    template = "admin_theme/edit_inline/tabular.html"


class BaseStackedInline(ScopedInlineMixin, StackedInline):
    pass


class RelatedListInline(BaseTabularInline):
    """Related rows listed on a change page, a page at a time, each linking to its
    own page; nothing is added, changed or deleted here. Django treats the inline
    as view-only (its rows are neither posted, validated nor saved) and a lean
    template renders a row in one table row: unfold's editing template spent
    ~7 ms a row on its includes."""

    template = "admin_theme/edit_inline/related_list.html"
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TrashFilter(admin.SimpleListFilter):
    """Switches the changelist to the trash (the rows are chosen in get_queryset)."""

    title = "trash"
    parameter_name = "trash"

    def lookups(self, request, model_admin):
        return [("1", "Show the trash")]

    def queryset(self, request, queryset):
        return queryset


class TrashMixin:
    """Soft-deletable models: "Move to trash" and "Restore" actions, a Trash view
    (`?trash=1`) of deleted rows, and hard delete for platform admins only."""

    actions = ["move_to_trash", "restore_from_trash"]

    def get_list_filter(self, request):
        return (*super().get_list_filter(request), TrashFilter)

    def get_queryset(self, request):
        if request.GET.get(TrashFilter.parameter_name) != "1":
            return super().get_queryset(request)
        deleted = self.model.all_objects.deleted()
        ordering = self.get_ordering(request)
        if ordering:
            deleted = deleted.order_by(*ordering)
        return selectors.scope_to_user(deleted, request.user)

    def get_actions(self, request):
        """Trash actions on top of the admin's own; each only where it applies."""
        actions = super().get_actions(request)
        in_trash = request.GET.get(TrashFilter.parameter_name) == "1"
        actions.pop("restore_from_trash" if not in_trash else "move_to_trash", None)
        if in_trash:
            actions = {
                name: value
                for name, value in actions.items()
                if name in ("restore_from_trash", "delete_selected")
            }
        return actions

    def has_delete_permission(self, request, obj=None):
        """Hard delete is for platform admins; everyone else moves rows to the trash."""
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    @admin.action(description="Move to trash", permissions=["change"])
    def move_to_trash(self, request, queryset):
        def perform(objects, data):
            count = records_soft_delete(actor=request.user, instances=objects)
            name = self.model._meta.verbose_name_plural
            return f"{count} {name} moved to the trash; restore them from the Trash."

        return confirmed_action(
            self,
            request,
            queryset,
            title=f"Move {self.model._meta.verbose_name_plural} to the trash",
            perform=perform,
            danger=True,
            button="Move to trash",
        )

    @admin.action(description="Restore from trash", permissions=["change"])
    def restore_from_trash(self, request, queryset):
        def perform(objects, data):
            count = records_restore(actor=request.user, instances=objects)
            return f"{count} {self.model._meta.verbose_name_plural} restored."

        return confirmed_action(
            self,
            request,
            queryset,
            title=f"Restore {self.model._meta.verbose_name_plural}",
            perform=perform,
            button="Restore",
        )


@admin.register(SavedView)
class SavedViewAdmin(BaseAdmin):
    """Saved views: everyone manages their own; platform admins see all."""

    list_display = ("name", "model", "owner", "shared_with", "updated_at")
    list_select_related = ("owner", "shared_with")
    search_fields = ("name",)
    ordering = ("model", "name")
    list_before_template = None

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return (
            queryset
            if request.user.is_superuser
            else queryset.filter(owner=request.user)
        )
