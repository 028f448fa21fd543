"""No lost updates: an edit based on an old version shows a conflict, saves nothing."""

import pytest
from django.test import Client
from django.urls import reverse

from audit.services import VersionConflict, record_update
from tests.admin_forms import change_form_data
from tests.factories import StaffFactory, TaskFactory

pytestmark = pytest.mark.django_db


def test_second_editor_gets_a_conflict_and_nothing_is_lost():
    task = TaskFactory(title="Original title", description="")
    alice, bob = Client(), Client()
    alice.force_login(StaffFactory(email="alice@example.com", is_superuser=True))
    bob.force_login(StaffFactory(email="bob@example.com", is_superuser=True))
    url = reverse("admin:work_task_change", args=[task.pk])

    alice_form = change_form_data(alice.get(url))
    bob_form = change_form_data(bob.get(url))

    alice_form["title"] = "Alice's title"
    saved = alice.post(url, alice_form)
    assert saved.status_code == 302

    bob_form["title"] = "Bob's title"
    bob_form["description"] = "Bob typed a long explanation"
    conflict = bob.post(url, bob_form)
    assert conflict.status_code == 200
    body = conflict.content.decode()
    assert "changed by alice@example.com" in body
    # Bob's input is still in the form; Alice's change is in the database.
    assert "Bob typed a long explanation" in body
    task.refresh_from_db()
    assert (task.title, task.description, task.version) == ("Alice's title", "", 2)


def test_the_service_refuses_a_stale_version(superuser):
    task = TaskFactory()
    record_update(actor=superuser, instance=task, data={"title": "First edit"})
    with pytest.raises(VersionConflict):
        record_update(
            actor=superuser,
            instance=task,
            data={"title": "Stale edit"},
            expected_version=1,
        )
    task.refresh_from_db()
    assert (task.title, task.version) == ("First edit", 2)


def test_a_comment_added_inline_takes_the_task_organization_and_author(admin_client):
    task = TaskFactory(title="Inline host")
    url = reverse("admin:work_task_change", args=[task.pk])
    data = change_form_data(admin_client.get(url))
    prefix = "comments"
    data[f"{prefix}-TOTAL_FORMS"] = "1"
    data[f"{prefix}-0-content"] = "<b>Looks</b> good"
    data[f"{prefix}-0-task"] = str(task.pk)
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    comment = task.comments.get()
    assert comment.organization_id == task.organization_id
    assert comment.author.email == "root@example.com"
    assert comment.content == "Looks good"
    assert comment.history.get().history_user == comment.author
