"""A changelist's rows, as Unfold renders them, worked out once per column.

Unfold's `items_for_result` decides for every cell how its column is read and
shown: it looks the column up again, builds its CSS classes, reverses the row's
change URL and merges the preserved filters into it, and escapes through nested
`format_html` calls. A 50-row task list spent 26 ms of its ~130 there. Here the
per-column decisions are taken once (`Column`), the change URL is reversed once
and filled in per row, and a cell is one escape and one string. The markup is
Unfold's, byte for byte (tests/admin_theme/test_admin_pages.py compares both on
every registered admin's list). Lists Unfold draws differently (editable rows,
popups, drag ordering) or columns read off the model by name keep Unfold's code.
"""

import datetime
import html

from django.contrib.admin.templatetags.admin_list import _coerce_field_name
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import (
    FieldIsAForeignKeyColumnName,
    _get_non_gfk_field,
    flatten_fieldsets,
)
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils.safestring import mark_safe
from unfold.fields import UnfoldAdminReadonlyField
from unfold.templatetags import unfold_list
from unfold.utils import (
    display_for_dropdown,
    display_for_field,
    display_for_header,
    display_for_label,
    display_for_value,
)

from admin_theme.reversing import PK, change_url_pattern, with_pk


def escape(value) -> str:
    """Django's `conditional_escape` without its lazy-string wrapper (a Promise
    is turned into its text by str() all the same): called for every cell."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


def _classes(names) -> str:
    return f' class="{" ".join(names)}"'


def _field_and_attr(cl, name):
    """Django's `lookup_field` without a row: the model field, or the callable
    that computes the column; None, None for a name read off each row."""
    try:
        return _get_non_gfk_field(cl.lookup_opts, name), None
    except (FieldDoesNotExist, FieldIsAForeignKeyColumnName):
        if callable(name):
            return None, name
        if name != "__str__" and hasattr(cl.model_admin, name):
            return None, getattr(cl.model_admin, name)
        return None, None


class Column:
    """One list_display column: how a row's value is read and shown, its classes."""

    def __init__(self, cl, index: int, name, is_link: bool, first: bool):
        admin = cl.model_admin
        self.is_link = is_link
        self.tag = "th" if is_link and first else "td"
        f, attr = _field_and_attr(cl, name)
        self.field = f
        self.computed = f is None or f.auto_created
        self.name = name
        self.read = (lambda obj: getattr(obj, name)) if f is not None else attr
        self.missing = admin.get_empty_value_display()
        self.empty = getattr(attr, "empty_value_display", self.missing)
        classes = [
            f"field-{_coerce_field_name(name, index)}",
            *unfold_list.TABLE_CELL_CLASSES,
        ]
        self.base_classes = _classes(classes)
        if self.computed:
            if name == "action_checkbox":
                classes = list(unfold_list.TABLE_ACTION_CELL_CLASSES)
            self.boolean = getattr(attr, "boolean", False)
            self.label = getattr(attr, "label", False)
            self.header = getattr(attr, "header", False)
            self.dropdown = getattr(attr, "dropdown", False)
            if getattr(attr, "formatting", None) == "price":
                classes.append("!text-end")
        elif isinstance(f, models.DateField | models.TimeField | models.ForeignKey):
            classes.append("nowrap")
        self.classes = _classes(classes)
        # A computed date or time does not wrap either (Unfold decides per cell).
        self.classes_nowrap = _classes([*classes, "nowrap"])

    def show(self, obj, value):
        if not self.computed:
            if isinstance(self.field.remote_field, models.ManyToOneRel):
                return self.empty if value is None else value
            return display_for_field(value, self.field, self.empty)
        if self.label:
            return display_for_label(value, self.empty, self.label)
        if self.dropdown:
            return display_for_dropdown(obj, self.name, value, self.empty)
        if self.header:
            return display_for_header(value, self.empty)
        return display_for_value(value, self.empty, self.boolean)

    def cell(self, obj) -> tuple[str, str]:
        """The cell's class attribute and its escaped content."""
        try:
            value = self.read(obj)
        except ObjectDoesNotExist:
            return self.base_classes, escape(self.missing)
        classes = self.classes
        if self.computed and isinstance(value, datetime.date | datetime.time):
            classes = self.classes_nowrap
        return classes, escape(self.show(obj, value))


def _link_columns(cl) -> list[bool]:
    """Which columns link to the row's page (Unfold's `link_in_col`, per column)."""
    links, first = [], True
    for name in cl.list_display:
        if cl.list_display_links is None:
            link = False
        elif first and not cl.list_display_links:
            link = True
        else:
            link = name in cl.list_display_links
        links.append(link)
        first = first and not link
    return links


def _row_url(cl) -> str | None:
    """The rows' change URL with the list's filters preserved, PK for the id."""
    opts = cl.opts
    try:
        url = reverse(
            f"admin:{opts.app_label}_{opts.model_name}_change",
            args=(PK,),
            current_app=cl.model_admin.admin_site.name,
        )
    except NoReverseMatch:
        return None
    return add_preserved_filters(
        {"preserved_filters": cl.preserved_filters, "opts": opts}, url
    )


def handles(cl) -> bool:
    """Lists drawn like Unfold's plain changelist; the rest keep Unfold's code."""
    return not (
        getattr(cl, "formset", None)
        or cl.is_popup
        or cl.to_field
        or getattr(cl.model_admin, "ordering_field", None)
        or getattr(cl.model_admin, "list_sections", None)
        or any(_field_and_attr(cl, name) == (None, None) for name in cl.list_display)
    )


class Row(unfold_list.UnfoldResultList):
    """A row's cells, and the whole row as admin/change_list_results.html would
    write it (`html`)."""

    html = ""


# Unfold's row markup (admin/change_list_results.html), rows alternating.
_ROW = (
    '<tbody class="relative {}" x-data="{{rowOpen: false}}" >'
    '<tr class="data-row relative">'
)
_SHADES = ("", "bg-base-50 dark:bg-white/[.02]")


def results(cl, row_end=lambda obj: "") -> list[Row]:
    """Unfold's `results(cl)` for the lists `handles`: a row of cell HTML each,
    and each row whole, `row_end(obj)` (its actions) closing it."""
    links = _link_columns(cl)
    columns, first = [], True
    for index, name in enumerate(cl.list_display):
        columns.append(Column(cl, index, name, links[index], first))
        first = first and not links[index]
    url = _row_url(cl)
    link = f'<a href="{{}}" class="{" ".join(unfold_list.LINK_CLASSES)}" >'
    pk_name = cl.lookup_opts.pk.attname
    rows = []
    for n, obj in enumerate(cl.result_list):
        cells = []
        for column in columns:
            classes, content = column.cell(obj)
            if column.is_link and url is not None:
                href = escape(with_pk(url, getattr(obj, pk_name)))
                content = f"{link.format(href)}{content}</a>"
            cells.append(mark_safe(f"<{column.tag}{classes}>{content}</{column.tag}>"))
        row = Row(obj, None, cells)
        row.html = mark_safe(
            f"{_ROW.format(_SHADES[n % 2])}{''.join(cells)}{row_end(obj)}</tr></tbody>"
        )
        rows.append(row)
    return rows


class _FormOf:
    """What Unfold's read-only field reads of a form: its object, no fields."""

    fields = {}

    def __init__(self, instance):
        self.instance = instance


def _class_name(name) -> str:
    """AdminReadonlyField's name for a field's cells."""
    if not callable(name):
        return name
    return name.__name__ if name.__name__ != "<lambda>" else ""


def _contents(inline, instance, name) -> str:
    """Unfold's read-only contents of one field, without the label and help text
    its field computes when built (label_for_field and help_text_for_field)."""
    field = UnfoldAdminReadonlyField.__new__(UnfoldAdminReadonlyField)
    field.field = {"field": name}
    field.form = _FormOf(instance)
    field.model_admin = inline
    field.empty_value_display = inline.get_empty_value_display()
    return field.contents()


def related_rows(inline_admin_formset) -> list[tuple[str | None, list]]:
    """A RelatedListInline's rows on its page: per object, the change URL its
    first cell links to (None where it links nowhere) and, per field, its class
    name and read-only contents, as Unfold shows them. Django builds an admin
    form of fieldsets, lines and labelled fields for each row to show them."""
    inline = inline_admin_formset.opts
    names = flatten_fieldsets(inline_admin_formset.fieldsets)
    url = None
    if inline.show_change_link and inline.has_registered_model:
        url = change_url_pattern(inline.model)
    rows = []
    for instance in inline_admin_formset.formset.get_queryset():
        link = None if url is None else with_pk(url, instance.pk)
        cells = [
            (_class_name(name), _contents(inline, instance, name)) for name in names
        ]
        rows.append((link, cells))
    return rows
