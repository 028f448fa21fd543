"""Admin actions that confirm before they act.

`confirmed_action` is the one pattern every bulk or destructive action uses: the
first POST (from the changelist or a detail page) shows a confirmation page, with
a form when the action needs input; the confirming POST calls the service, which
is atomic, and reports what it did. A refused or invalid request changes nothing.

Each confirmed action is one history operation: every history row it writes
carries one operation id (so the action can be undone as a whole) and the reason
the user gives, from the action's own `reason` field or an optional one added to
every confirmation.
"""

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.response import TemplateResponse
from unfold.widgets import UnfoldAdminTextInputWidget

from audit.history import history_operation

MAX_BULK = 10_000


def _errors(error: ValidationError) -> str:
    return " ".join(error.messages)


def _with_change_reason(form_class: type[forms.Form] | None) -> type[forms.Form]:
    """The action's form plus an optional change reason, unless it asks one."""
    base = form_class or forms.Form
    if "reason" in base.base_fields:
        return base
    field = forms.CharField(
        required=False,
        max_length=500,
        label="Reason (optional)",
        help_text="Kept in the history of every row the action changes.",
        widget=UnfoldAdminTextInputWidget,
    )
    return type(f"{base.__name__}WithReason", (base,), {"change_reason": field})


def confirmed_action(
    modeladmin,
    request,
    queryset,
    *,
    title: str,
    perform: Callable[[list, dict], str],
    form_class: type[forms.Form] | None = None,
    form_kwargs: dict | None = None,
    danger: bool = False,
    button: str = "Confirm",
):
    """Show a confirmation page (and form); on the confirming POST run `perform`.

    `perform(objects, cleaned_data)` returns the success message; a ValidationError
    it raises is shown and nothing changes.
    """
    count = queryset.count()
    if count > MAX_BULK:
        modeladmin.message_user(
            request,
            f"{count:,} rows selected; bulk actions take at most {MAX_BULK:,}. "
            "Narrow the list with filters first.",
            messages.ERROR,
        )
        return None
    confirming = request.POST.get("apply") == "yes"
    form = _with_change_reason(form_class)(
        request.POST if confirming else None, **(form_kwargs or {})
    )
    if confirming and form.is_valid():
        data = dict(form.cleaned_data)
        reason = data.pop("change_reason", None) or data.get("reason")
        try:
            # All or nothing: one refused row leaves every row as it was.
            with transaction.atomic(), history_operation(reason=reason):
                message = perform(list(queryset), data)
        except ValidationError as error:
            modeladmin.message_user(request, _errors(error), messages.ERROR)
            return None
        modeladmin.message_user(request, message, messages.SUCCESS)
        return None
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": opts,
        "objects": queryset[:20],
        "count": count,
        "form": form,
        "danger": danger,
        "button": button,
        "action": request.POST.get("action", ""),
        "select_across": request.POST.get("select_across", "0"),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": modeladmin.media + form.media,
    }
    return TemplateResponse(request, "admin_theme/action_confirm.html", context)


def for_each(service: Callable, argument: str, actor, message: str) -> Callable:
    """A `perform` for confirmed_action that runs a one-object service on every
    selected row, passing the form's data; `message` is formatted with `count` and
    that data."""

    def perform(objects: list, data: dict) -> str:
        for obj in objects:
            service(actor=actor, **{argument: obj}, **data)
        return message.format(count=len(objects), **data)

    return perform
