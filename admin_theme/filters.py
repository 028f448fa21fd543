"""List filters that respect the tenant scope."""

from unfold.contrib.filters.admin import AutocompleteSelectFilter
from unfold.contrib.filters.forms import AutocompleteDropdownForm

from tenants import selectors


class ScopedAutocompleteDropdownForm(AutocompleteDropdownForm):
    """Unfold's autocomplete filter form resolves the selected id against the whole
    table, so a forged id would print a foreign row's name; this one resolves it
    inside the user's scope only."""

    def __init__(self, request, name, label, choices, field, model_admin, *args, **kw):
        super().__init__(request, name, label, choices, field, model_admin, *args, **kw)
        related = field.remote_field.model
        self.fields[name].queryset = selectors.scope_to_user(
            related._default_manager.all(), request.user
        )


class ScopedAutocompleteFilter(AutocompleteSelectFilter):
    """Autocomplete filter for any FK: never loads all choices, never leaks one."""

    form_class = ScopedAutocompleteDropdownForm
