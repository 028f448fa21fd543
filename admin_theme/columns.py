"""List columns shared by the admins."""

import functools

from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from unfold.decorators import display

from admin_theme.result_rows import escape
from admin_theme.reversing import change_url_pattern, with_pk


def linked(field_name: str, description: str | None = None):
    """A list column showing a foreign key as a link to the related object's page.

    The related row must be in `list_select_related`, so the column costs no query.
    """

    @display(
        description=description or field_name.replace("_", " ").capitalize(),
        ordering=field_name,
    )
    def column(obj):
        target = getattr(obj, field_name)
        if target is None:
            return "-"
        pattern = change_url_pattern(type(target))
        if pattern is None:
            return str(target)
        url = with_pk(pattern, target.pk)
        return mark_safe(
            f'<a class="text-primary-600" href="{escape(url)}">{escape(target)}</a>'
        )

    column.__name__ = f"link_to_{field_name}"
    return column


@functools.cache
def _badge_html(text: str, color: str | None) -> str:
    return render_to_string(
        "unfold/helpers/display_label.html",
        {"label": text, "label_type": color, "multiple": False},
    )


def badge(colors: dict[str, str], **display_options):
    """A list column drawn as Unfold's coloured label (`@display(label=colors)`),
    each distinct badge rendered once per process rather than once per cell: a
    50-row page with two badge columns otherwise renders 200 templates."""

    def decorate(method):
        @display(**display_options)
        @functools.wraps(method)
        def column(admin, obj):
            value = method(admin, obj)
            if value is None:
                return admin.get_empty_value_display()
            return _badge_html(str(value), colors.get(value))

        return column

    return decorate
