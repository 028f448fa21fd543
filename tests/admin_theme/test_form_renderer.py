"""Widgets render through admin_theme's FormRenderer: Django's templates, with
`django/forms/widgets/attrs.html` written in Python (`widget_attrs`)."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import django.forms
import pytest
from django import forms
from django.forms.renderers import get_default_renderer
from django.template import Engine
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

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


class EveryWidget(forms.Form):
    name = forms.CharField(max_length=80, help_text="Who")
    kind = forms.ChoiceField(choices=[("a", "A & B"), ("b", mark_safe("<b>B</b>"))])
    size = forms.TypedChoiceField(choices=[(1000, 1000), (2, 2.5)], coerce=int)
    many = forms.MultipleChoiceField(choices=[("x", _("Yes")), ("y", "No")])
    count = forms.IntegerField(initial=12345)
    price = forms.DecimalField(initial=Decimal("1234.50"))
    agree = forms.BooleanField(required=False, initial=True)
    when = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    at = forms.DateTimeField(initial=dt.datetime(2026, 11, 22, 9, 30))
    secret = forms.CharField(widget=forms.HiddenInput, initial=mark_safe("a&amp;b"))
    note = forms.CharField(widget=forms.Textarea, required=False)
    pick = forms.ChoiceField(widget=forms.RadioSelect, choices=[("1", "One")])


@pytest.mark.parametrize(
    "data",
    [None, {"name": 'x"y', "kind": "b", "size": "2", "many": ["x", "y"], "count": ""}],
)
def test_a_form_renders_as_with_djangos_renderer(data):
    """Inputs, options, checkboxes, radios, hidden and date inputs: the overrides
    write what Django's templates write, values and labels localized alike."""
    ours = EveryWidget(data=data).render()
    djangos = EveryWidget(data=data, renderer=django.forms.renderers.DjangoTemplates())
    assert ours == djangos.render()
    assert 'name="count"' in ours and "<option" in ours
    renderer = get_default_renderer()
    for name in ("input", "select_option"):
        template = renderer.get_template(f"django/forms/widgets/{name}.html")
        assert "admin_theme/overrides" in template.origin.name
