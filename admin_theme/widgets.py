"""Autocomplete selects in inline rows, named without a query per row.

Django's autocomplete select reads its selected row from the database when it
renders: one query per inline row (ten on an organization's members tab). The
inline's rows come with their related rows already (`list_select_related`); the
formset checks them against the field's scoped choices in one query and hands
each widget its row.
"""

from django.contrib.admin.widgets import AutocompleteSelect
from django.utils.functional import cached_property
from unfold.forms import PaginationInlineFormSet


class KnownRowAutocompleteSelect(AutocompleteSelect):
    """`known`: the selected row, already read and within the user's choices."""

    known = None

    def optgroups(self, name, value, attr=None):
        known = self.known
        selected = {
            str(v) for v in value if str(v) not in self.choices.field.empty_values
        }
        if known is None or selected != {str(known.pk)}:
            return super().optgroups(name, value, attr)
        options = []
        if not self.is_required:
            options.append(self.create_option(name, "", "", False, 0))
        label = self.choices.field.label_from_instance(known)
        options.append(
            self.create_option(name, known.pk, label, selected, len(options))
        )
        return [(None, options, 0)]


class KnownRowsInlineFormSet(PaginationInlineFormSet):
    @cached_property
    def forms(self):
        forms = super().forms
        names = {
            name
            for form in forms
            for name, field in form.fields.items()
            if isinstance(_unwrapped(field.widget), KnownRowAutocompleteSelect)
        }
        for name in names:
            _hand_known_rows(forms, name)
        return forms


def _unwrapped(widget):
    return getattr(widget, "widget", widget)  # RelatedFieldWidgetWrapper


def _hand_known_rows(forms, name) -> None:
    model_field = forms[0].instance._meta.get_field(name)
    if model_field.target_field != model_field.remote_field.model._meta.pk:
        return  # the widget names rows by another field
    related = {}  # pk -> [(form, its row)]
    for form in forms:
        if form.instance.pk is not None and model_field.is_cached(form.instance):
            row = model_field.get_cached_value(form.instance)
            if row is not None:
                related.setdefault(row.pk, []).append((form, row))
    if not related:
        return
    choices = _unwrapped(forms[0].fields[name].widget).choices.queryset
    for pk in choices.filter(pk__in=related).values_list("pk", flat=True):
        for form, row in related[pk]:
            _unwrapped(form.fields[name].widget).known = row
