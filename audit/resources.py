"""The base of every import/export resource, and the registry the admin reads.

Resources name related rows by natural keys (an organization's slug, a plan's code,
a user's email, a project's key within its organization) and resolve them only
inside the importing user's scope (`tenants.selectors.scope_to_user`): a key of a
row the user may not see is reported as unknown, exactly like a missing one.
Each app declares its resources in its own `resources.py` with `@register`.
"""

import functools

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.module_loading import autodiscover_modules
from import_export import resources, widgets

from audit.formulas import unescape_formula
from tenants.selectors import scope_to_user

_registry: dict[type[models.Model], type["ScopedModelResource"]] = {}


def register(resource_class: type["ScopedModelResource"]):
    """Class decorator: `resource_class` is how its model is imported and exported."""
    _registry[resource_class._meta.model] = resource_class
    return resource_class


@functools.cache
def _discover() -> None:
    autodiscover_modules("resources")


def resource_for(model: type[models.Model]) -> type["ScopedModelResource"] | None:
    """The registered resource of `model`, or None when it has none."""
    _discover()
    return _registry.get(model)


def normalize_key(value, *, lowercase: bool = False) -> str:
    """A key cell as text: spreadsheets turn `12` into `12.0`, people add spaces."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = "" if value is None else unescape_formula(str(value).strip())
    return text.lower() if lowercase else text


class NaturalKeyWidget(widgets.ForeignKeyWidget):
    """A related row named by one of its unique fields, looked up among the rows the
    resource's user may see.

    `per_organization`: the key is unique within an organization (a project's key, a
    subscription's id), so the lookup also matches the row's `organization` column.
    """

    def __init__(
        self,
        model,
        field: str,
        *,
        per_organization: bool = False,
        lowercase: bool = False,
    ):
        super().__init__(model, field)
        self.per_organization = per_organization
        self.lowercase = lowercase
        self.user = None  # bound by the resource

    def normalize(self, value) -> str:
        return normalize_key(value, lowercase=self.lowercase)

    def unknown(self, value) -> str:
        return f"Unknown {self.model._meta.verbose_name} “{self.normalize(value)}”."

    def get_queryset(self, value, row, *args, **kwargs):
        """The related rows the user may see (none without a user)."""
        rows = self.model._default_manager.all()
        return scope_to_user(rows, self.user) if self.user else rows.none()

    def get_lookup_kwargs(self, value, row, **kwargs):
        lookup = {self.field: self.normalize(value)}
        if self.per_organization:
            lookup["organization__slug"] = normalize_key(row.get("organization"))
        return lookup

    def clean(self, value, row=None, **kwargs):
        try:
            return super().clean(value, row, **kwargs)
        except (
            self.model.DoesNotExist,
            self.model.MultipleObjectsReturned,
            ValueError,
            ValidationError,
        ) as error:
            raise ValueError(self.unknown(value)) from error


class ScopedModelResource(resources.ModelResource):
    """A resource bound to the user who imports or exports with it.

    `Meta.import_id_fields` is the natural key. A key field named `id` is a
    surrogate: blank means a new row, and an id the user cannot see is unknown.
    `resource.import_data(...)` (django-import-export's own row-by-row path) works
    with these resources too: same lookups, `full_clean`, history by the user.
    """

    class Meta:
        clean_model_instances = True
        skip_unchanged = True
        use_transactions = True

    def __init__(self, user=None, change_reason: str = "", **kwargs):
        super().__init__(**kwargs)
        self.user = user
        self.change_reason = change_reason
        for field in self.fields.values():
            if isinstance(field.widget, NaturalKeyWidget):
                field.widget.user = user

    @classmethod
    def model_label(cls) -> str:
        return cls._meta.model._meta.label_lower

    @classmethod
    def key_fields(cls) -> list[str]:
        return list(cls._meta.import_id_fields)

    def get_queryset(self):
        """Existing rows an import may update: the user's, the trash included."""
        rows = self._meta.model._base_manager.all()
        return scope_to_user(rows, self.user) if self.user else rows.none()

    def get_or_init_instance(self, instance_loader, row):
        instance, new = super().get_or_init_instance(instance_loader, row)
        if new and "id" in self.key_fields() and normalize_key(row.get("id")):
            label = self._meta.model._meta.verbose_name
            raise ValidationError({"id": f"Unknown {label} “{row['id']}”."})
        return instance, new

    def before_save_instance(self, instance, row, **kwargs):
        instance._history_user = self.user
        if self.change_reason:
            instance._change_reason = self.change_reason
