"""Forms of the tenant and billing actions."""

from django import forms
from unfold.widgets import (
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
)

from tenants.models import PlanTier
from tenants.services import MAX_EXTENSION_DAYS


class ReasonForm(forms.Form):
    reason = forms.CharField(
        min_length=3,
        max_length=500,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        help_text="Required. Kept in the history and the audit log.",
    )


class OptionalReasonForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=500,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
    )


class PlanTierForm(forms.Form):
    plan_tier = forms.ChoiceField(
        choices=PlanTier.choices, widget=UnfoldAdminSelectWidget
    )


class ExtendForm(forms.Form):
    days = forms.IntegerField(
        min_value=1,
        max_value=MAX_EXTENSION_DAYS,
        initial=30,
        widget=UnfoldAdminIntegerFieldWidget,
        help_text="Pushes the end of the current period back by this many days.",
    )
