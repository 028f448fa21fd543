import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AppendOnlyError, AuditEvent
from audit.services import audit_event_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(superuser):
    return audit_event_record(actor=superuser, action=AuditEvent.Action.LOGIN)


def test_events_cannot_be_changed_or_deleted_through_the_orm(event):
    event.action = AuditEvent.Action.LOGOUT
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="logout")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET action = 'logout'",
        "DELETE FROM audit_auditevent",
    ],
)
def test_the_database_refuses_updates_and_deletes(event, sql):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert AuditEvent.objects.get().action == "login"


def test_event_keeps_a_label_of_its_actor(event, superuser):
    assert event.actor_label == superuser.email
    assert superuser.email in str(event)
