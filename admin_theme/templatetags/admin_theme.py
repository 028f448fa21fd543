from django import template
from django.contrib.admin.templatetags.admin_list import result_hidden_fields
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.template.base import render_value_in_context
from django.utils.safestring import SafeData, mark_safe
from unfold.templatetags import unfold_list

from admin_theme import result_rows
from admin_theme.result_rows import escape
from admin_theme.saved_views import views_of_model

register = template.Library()


def _formatted(value) -> str:
    """`{{ value|stringformat:'s' }}` in an attribute: a safe value as it is."""
    text = str(value)
    return text if isinstance(value, SafeData) else escape(text)


@register.simple_tag
def widget_attrs(attrs):
    """Django's `django/forms/widgets/attrs.html`, the same output written in
    Python: ` name` for True, nothing for False, else ` name="value"`."""
    html = []
    for name, value in attrs.items():
        if value is False:
            continue
        if value is True:
            html.append(f" {escape(name)}")
        else:
            html.append(f' {escape(name)}="{_formatted(value)}"')
    return mark_safe("".join(html))


@register.simple_tag(takes_context=True)
def widget_input(context, widget):
    """Django's `django/forms/widgets/input.html`, written in Python."""
    value = widget["value"]
    shown = "" if value == None else f' value="{_formatted(value)}"'  # noqa: E711
    kind = render_value_in_context(widget["type"], context)
    name = render_value_in_context(widget["name"], context)
    attrs = widget_attrs(widget["attrs"])
    return mark_safe(f'<input type="{kind}" name="{name}"{shown}{attrs}>')


@register.simple_tag(takes_context=True)
def widget_option(context, widget):
    """Django's `django/forms/widgets/select_option.html`, written in Python."""
    value = _formatted(widget["value"])
    attrs = widget_attrs(widget["attrs"])
    label = render_value_in_context(widget["label"], context)
    return mark_safe(f'<option value="{value}"{attrs}>{label}</option>')


register.simple_tag(result_rows.related_rows, name="related_rows")


@register.filter
def saved_views_of(model_admin, request):
    return views_of_model(request, model_admin.model)


ROW_ACTIONS_TEMPLATE = "unfold/helpers/actions_row.html"
_PK_STANDIN = 918_273_645_546_372_819


def _unfold_row_actions(engine):
    """Unfold's own template, behind our override of the same name."""
    _, ours = engine.find_template(ROW_ACTIONS_TEMPLATE)
    template, _ = engine.find_template(ROW_ACTIONS_TEMPLATE, skip=[ours])
    return template


@register.simple_tag(takes_context=True)
def row_actions(context, actions, instance_pk):
    """Unfold's row-actions cell, rendered once per list and reused for each row
    (only the row's id differs): 50 renders of it cost 5-10 ms a page."""
    if not actions:
        return ""
    engine = context.template.engine
    if not isinstance(instance_pk, int):
        return _unfold_row_actions(engine).render(
            context.new({"actions": actions, "instance_pk": instance_pk})
        )
    # Kept on the request: each row's include has a render context of its own.
    rendered = context.request.__dict__.setdefault("_row_actions", {})
    if id(actions) not in rendered:
        html = _unfold_row_actions(engine).render(
            context.new({"actions": actions, "instance_pk": _PK_STANDIN})
        )
        rendered[id(actions)] = (actions, html)  # (holding `actions` keeps its id)
    html = rendered[id(actions)][1]
    return mark_safe(html.replace(str(_PK_STANDIN), str(instance_pk)))


def result_list(context, cl):
    """Unfold's `result_list`, its rows built by `result_rows` where it can."""
    if not result_rows.handles(cl):
        return unfold_list.result_list(context, cl)
    headers = list(unfold_list.result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": list(result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": result_rows.results(
            cl, lambda obj: row_actions(context, context.get("actions_row"), obj.pk)
        ),
        "actions_row": context.get("actions_row"),
        "has_add_permission": cl.model_admin.has_add_permission(context["request"]),
    }


@register.tag(name="result_list")
def result_list_tag(parser, token):
    return InclusionAdminNode(
        parser, token, func=result_list, template_name="change_list_results.html"
    )
