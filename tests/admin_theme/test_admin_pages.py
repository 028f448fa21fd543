"""Every registered model's admin answers for a platform admin: list, add, change."""

import re

import pytest
from django.contrib import admin
from django.urls import reverse
from django_q.models import Schedule
from unfold.templatetags import unfold_list

from admin_theme import result_rows
from audit.models import AuditEvent, ImportJob
from audit.services import audit_event_record
from tests.factories import (
    CommentFactory,
    InvoiceFactory,
    MembershipFactory,
    TagFactory,
)
from work.models import Notification

OUR_APPS = {"tenants", "work", "audit"}
REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.fixture
def one_of_everything(superuser):
    membership = MembershipFactory()
    InvoiceFactory(
        organization=membership.organization,
        subscription__organization=membership.organization,
    )
    comment = CommentFactory(task__project__organization=membership.organization)
    TagFactory(organization=membership.organization)
    Notification.objects.create(
        organization=membership.organization,
        recipient=membership.user,
        category=Notification.Category.SYSTEM,
        message="Hello",
    )
    audit_event_record(actor=superuser, action=AuditEvent.Action.LOGIN, target=comment)
    Schedule.objects.create(func="math.floor", args="1", name="demo")
    ImportJob.objects.create(
        user=superuser, model="work.task", file_name="tasks.csv", file_format="csv"
    )


def test_every_model_of_our_apps_is_registered():
    registered = {model._meta.label for model in admin.site._registry}
    from django.apps import apps

    ours = {
        m._meta.label
        for m in apps.get_models()
        if m._meta.app_label in OUR_APPS
        and not m.__name__.startswith("Historical")
        and "ObjectPermission" not in m.__name__
    }
    assert ours - registered == set()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model,model_admin", REGISTERED, ids=[m._meta.label for m, _ in REGISTERED]
)
def test_changelist_add_and_change_pages_answer(
    admin_client, one_of_everything, model, model_admin
):
    opts = model._meta
    base = f"admin:{opts.app_label}_{opts.model_name}"
    assert admin_client.get(reverse(f"{base}_changelist")).status_code == 200

    add = admin_client.get(reverse(f"{base}_add"))
    assert add.status_code == (
        200 if model_admin.has_add_permission(add.wsgi_request) else 403
    )
    if add.status_code == 200:
        _assert_every_field_is_rendered(add)

    obj = model._default_manager.first()
    if opts.app_label in OUR_APPS or opts.label in {"auth.Group", "django_q.Schedule"}:
        assert obj is not None, f"the fixture should create a {opts.label}"
    if obj is not None:
        response = admin_client.get(reverse(f"{base}_change", args=[obj.pk]))
        assert response.status_code == 200
        _assert_every_field_is_rendered(response)
        assert (
            admin_client.get(reverse(f"{base}_history", args=[obj.pk])).status_code
            == 200
        )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model,model_admin", REGISTERED, ids=[m._meta.label for m, _ in REGISTERED]
)
def test_changelist_rows_are_unfolds_own_markup(
    admin_client, one_of_everything, model, model_admin
):
    """`result_rows` works a list's columns out once, not per cell: the rows it
    builds are Unfold's, byte for byte, row links keeping the list's filters."""
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    response = admin_client.get(url, {"o": "1"})
    cl = response.context["cl"]
    unfolds = [list(row) for row in unfold_list.results(cl)]
    if opts.app_label in OUR_APPS:
        assert result_rows.handles(cl)
        assert unfolds, f"the fixture should create a {opts.label}"
    if result_rows.handles(cl):
        assert [list(row) for row in result_rows.results(cl)] == unfolds
    page = response.content.decode()
    assert all(cell in page for row in unfolds for cell in row)
    if unfolds and cl.list_display_links is not None:
        assert "?_changelist_filters=o%3D1" in "".join(unfolds[0])


def _assert_every_field_is_rendered(response):
    """Each required field of the form has its input on the page: one left out of
    the rendered fieldsets (unfold shows no fieldset tab without a name) is never
    posted, and the form can never be saved."""
    body = response.content.decode()
    form = response.context["adminform"].form
    missing = [
        name
        for name, field in form.fields.items()
        if field.required
        and not re.search(rf'name="{re.escape(form.add_prefix(name))}(_\d+)?"', body)
    ]
    assert missing == []
