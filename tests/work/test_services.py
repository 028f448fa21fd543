import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from tests.factories import CommentFactory, ProjectFactory, TagFactory, TaskFactory
from work.models import Task
from work.services import comment_edit, task_create, task_update

pytestmark = pytest.mark.django_db


def test_task_create_writes_history_and_audit(superuser):
    project = ProjectFactory()
    tag = TagFactory(organization=project.organization)
    task = task_create(actor=superuser, project=project, title="Fix login", tags=[tag])
    assert task.organization_id == project.organization_id
    assert task.reporter == superuser
    # One row for the insert, one for the tags (M2M changes are tracked).
    assert [h.history_user for h in task.history.all()] == [superuser, superuser]
    assert [t.tag_id for t in task.history.latest().tags.all()] == [tag.pk]
    assert list(task.tags.all()) == [tag]
    assert AuditEvent.objects.get(action="create").target == task


def test_task_create_refuses_tags_of_another_organization(superuser):
    with pytest.raises(ValidationError, match="same organization"):
        task_create(
            actor=superuser,
            project=ProjectFactory(),
            title="Fix login",
            tags=[TagFactory()],
        )
    assert not Task.objects.exists()
    assert not AuditEvent.objects.exists()


def test_task_done_stamps_completed_at_and_reopening_clears_it(superuser):
    task = TaskFactory()
    task.history.all().delete()
    changes = task_update(actor=superuser, task=task, status=Task.Status.DONE)
    assert task.completed_at is not None
    assert set(changes) == {"status", "completed_at"}
    task_update(actor=superuser, task=task, status=Task.Status.TODO)
    assert task.completed_at is None
    assert task.history.count() == 2
    assert {h.history_user for h in task.history.all()} == {superuser}


def test_task_update_with_a_short_title_changes_nothing(superuser):
    task = TaskFactory(title="Valid title")
    history_before = task.history.count()
    with pytest.raises(ValidationError):
        task_update(actor=superuser, task=task, title="ab")
    task.refresh_from_db()
    assert task.title == "Valid title"
    assert task.history.count() == history_before


def test_comment_edit_keeps_the_previous_text(superuser):
    comment = CommentFactory(content="First")
    comment_edit(actor=superuser, comment=comment, content="<i>Second</i>")
    comment.refresh_from_db()
    assert comment.content == "Second"
    assert comment.is_edited
    assert comment.edit_history[0]["content"] == "First"
    assert comment.history.latest().history_user == superuser
