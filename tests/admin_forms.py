"""Posting an admin change form back as a browser would."""


def change_form_data(response) -> dict:
    """The change form's fields and each inline's management form, as rendered."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None:
            continue
        if isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        else:
            data[name] = str(value) if not isinstance(value, dict) else "{}"
    for formset in response.context["inline_admin_formsets"]:
        mgmt = formset.formset.management_form
        for name in mgmt.fields:
            data[f"{mgmt.prefix}-{name}"] = str(mgmt[name].value() or 0)
    return data
