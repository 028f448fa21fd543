"""List columns shared by the admins."""

from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from unfold.decorators import display


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
        opts = target._meta
        try:
            url = reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change", args=[target.pk]
            )
        except NoReverseMatch:
            return str(target)
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, target)

    column.__name__ = f"link_to_{field_name}"
    return column
