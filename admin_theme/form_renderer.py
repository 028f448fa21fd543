"""Django's form renderer, with admin_theme's overrides of its templates first."""

from pathlib import Path

import django.forms
from django.conf import settings
from django.forms.renderers import DjangoTemplates
from django.utils.functional import cached_property


class FormRenderer(DjangoTemplates):
    """Widgets render as with Django's default renderer (its templates, then the
    apps'), but a template in TEMPLATES' override folder comes first: there,
    `django/forms/widgets/attrs.html`, `input.html` and `select_option.html`
    call tags that write the same HTML in Python (`widget_attrs`, `widget_input`,
    `widget_option`). Every input, select and option includes the first: 132
    times on an organization's page, ~100 us each as a template."""

    @cached_property
    def engine(self):
        return self.backend(
            {
                "APP_DIRS": True,
                "DIRS": [
                    *settings.TEMPLATES[0]["DIRS"],
                    Path(django.forms.__file__).parent / "templates",
                ],
                "NAME": "djangoforms",
                "OPTIONS": {},
            }
        )
