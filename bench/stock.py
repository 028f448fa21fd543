"""The stock Django admin, for comparison: a second AdminSite at /stock-admin/.

Plain `django.contrib.admin.ModelAdmin`s for the benchmarked models, derived from
our admins so the columns stay the same when ours change: the same list_display
columns (our `display_<field>` methods become the plain field), list_filter on the
same fields as plain field names, search_fields on the same fields with Django's
default `icontains`, Django's paginator (exact COUNT), no list_select_related; only
the page size is ours (50 rows, so both sites show the same rows).
They apply the same data rule as ours (`scope_to_user`), so a support agent sees
the same rows on both sites. Inlines of the organization page keep our fields;
their foreign keys that we serve by autocomplete are `raw_id_fields` here, the
one concession: a stock <select> of 100,000 users per membership row would not
finish.
"""

from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist

from tenants.models import Organization
from tenants.selectors import scope_to_user
from work.models import Project, Task

site = admin.AdminSite(name="stock")
site.site_header = "Stock Django admin (benchmark)"


def _field(model, name):
    """A field that can be a list column or a filter (not a to-many relation)."""
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return None if field.many_to_many or field.one_to_many else field


def plain_list_display(model, names) -> tuple[str, ...]:
    """Model fields as they are; `display_<field>` methods as the plain field."""
    columns = []
    for name in names:
        if not isinstance(name, str):
            continue
        plain = name.removeprefix("display_")
        if _field(model, name) is not None:
            columns.append(name)
        elif _field(model, plain) is not None:
            columns.append(plain)
    return tuple(columns)


def plain_list_filter(model, filters) -> tuple[str, ...]:
    names = []
    for item in filters:
        name = item[0] if isinstance(item, tuple | list) else item
        if isinstance(name, str) and _field(model, name) is not None:
            names.append(name)
    return tuple(names)


def plain_search_fields(fields) -> tuple[str, ...]:
    """`title__trgm_icontains` -> `title`, `=key` -> `key` (Django's icontains)."""
    plain = []
    for name in fields:
        name = name.lstrip("^=@")
        for suffix in ("__trgm_icontains", "__icontains", "__iexact", "__exact"):
            name = name.removesuffix(suffix)
        plain.append(name)
    return tuple(plain)


class StockScoped:
    def get_queryset(self, request):
        return scope_to_user(super().get_queryset(request), request.user)


def stock_admin_for(model, ours: admin.ModelAdmin, **extra) -> type[admin.ModelAdmin]:
    attrs = {
        "list_display": plain_list_display(model, ours.list_display),
        "list_filter": plain_list_filter(model, ours.list_filter),
        "search_fields": plain_search_fields(ours.search_fields),
        # The same rows per page as ours (Django's default is 100).
        "list_per_page": ours.list_per_page,
        **extra,
    }
    return type(f"Stock{model.__name__}Admin", (StockScoped, admin.ModelAdmin), attrs)


def stock_inline_for(inline) -> type[admin.TabularInline]:
    model = inline.model
    readonly = tuple(inline.readonly_fields)
    raw_ids = tuple(
        name
        for name in getattr(inline, "autocomplete_fields", ())
        if name in (inline.fields or ())
    )
    attrs = {
        "model": model,
        "fields": inline.fields,
        "readonly_fields": readonly,
        "raw_id_fields": raw_ids,
    }
    return type(
        f"Stock{model.__name__}Inline", (StockScoped, admin.TabularInline), attrs
    )


def register() -> None:
    ours = admin.site._registry
    task_admin = ours[Task]
    site.register(Task, stock_admin_for(Task, task_admin))
    # The remote end of the task's project autocomplete.
    site.register(Project, stock_admin_for(Project, ours[Project]))
    organization_admin = ours[Organization]
    site.register(
        Organization,
        stock_admin_for(
            Organization,
            organization_admin,
            inlines=[stock_inline_for(i) for i in organization_admin.inlines],
        ),
    )


register()
