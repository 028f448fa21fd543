"""Widgets render through admin_theme's FormRenderer: Django's templates, with
`django/forms/widgets/attrs.html` written in Python (`widget_attrs`)."""

from pathlib import Path

import django.forms
import pytest
from django import forms
from django.forms.renderers import get_default_renderer
from django.template import Engine
from django.utils.safestring import mark_safe

from admin_theme.form_renderer import FormRenderer

DJANGOS_ATTRS = Engine(
    dirs=[Path(django.forms.__file__).parent / "templates"]
).get_template("django/forms/widgets/attrs.html")


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"id": "id_name", "class": "border rounded", "required": True},
        {"disabled": False, "checked": True, "maxlength": 80, "step": 0.5},
        {"placeholder": 'Say "hi" & <bye>', "data-x": mark_safe("a&amp;b")},
        {"value": None, "data-pair": ("a", "b"), "aria-label": "Ünïcode"},
    ],
)
def test_widget_attributes_are_djangos_own(attrs):
    renderer = get_default_renderer()
    assert isinstance(renderer, FormRenderer)
    template = renderer.get_template("django/forms/widgets/attrs.html")
    assert "admin_theme/overrides" in template.origin.name
    ours = renderer.render(
        "django/forms/widgets/attrs.html", {"widget": {"attrs": attrs}}
    )
    assert (
        ours
        == DJANGOS_ATTRS.render(
            django.template.Context({"widget": {"attrs": attrs}})
        ).strip()
    )


def test_a_form_renders_as_with_djangos_renderer():
    class Form(forms.Form):
        name = forms.CharField(max_length=80, help_text="Who")
        kind = forms.ChoiceField(choices=[("a", "A & B"), ("b", "<b>")])
        agree = forms.BooleanField(required=False, initial=True)
        when = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    data = {"name": 'x"y', "kind": "b"}
    ours = Form(data=data).render()
    djangos = Form(data=data, renderer=django.forms.renderers.DjangoTemplates())
    assert ours == djangos.render()
    assert 'value="x&quot;y"' in ours and "required" in ours
