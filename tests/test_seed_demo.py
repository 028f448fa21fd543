import pytest
from django.core.management import call_command
from django.db.models import F
from django.http import HttpRequest

from audit.models import AuditEvent
from backoffice import demo
from tenants.models import Organization, User
from work.models import Task

pytestmark = pytest.mark.django_db


def _counts():
    return (
        Organization.all_objects.count(),
        User.objects.count(),
        Task.all_objects.count(),
        Task.history.count(),
        AuditEvent.objects.count(),
    )


def test_seed_demo_is_idempotent_and_the_demo_logins_work(client, capsys):
    call_command("seed_demo", "--tasks", "500")
    first = _counts()
    assert first[2] == 500 and first[3] == 500  # every task has its creation history
    call_command("seed_demo", "--tasks", "500")
    assert _counts() == first
    call_command("seed_demo", "--tasks", "600")
    assert Task.all_objects.count() == 600
    out = capsys.readouterr().out
    for email, _, _ in demo.DEMO_LOGINS:
        assert email in out
        # django-axes needs the request that carries the attempt.
        assert client.login(
            request=HttpRequest(), username=email, password=demo.DEMO_PASSWORD
        )
        assert client.get("/admin/").status_code == 200


def test_seeded_tasks_stay_inside_their_project_organization():
    call_command("seed_demo", "--tasks", "300")
    mismatched = Task.all_objects.exclude(organization=F("project__organization"))
    assert not mismatched.exists()


def test_seeded_creation_history_keeps_the_tags():
    call_command("seed_demo", "--tasks", "300")
    tagged = Task.all_objects.filter(tags__isnull=False).distinct()
    assert tagged.exists()
    for task in tagged[:20]:
        creation = task.history.get(history_type="+")
        assert {link.tag_id for link in creation.tags.all()} == set(
            task.tags.values_list("pk", flat=True)
        )
