import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from tests.factories import (
    CommentFactory,
    OrganizationFactory,
    ProjectFactory,
    TaskFactory,
    UserFactory,
)
from work.models import Comment, Project, Task

pytestmark = pytest.mark.django_db


def test_overdue_is_open_tasks_past_their_due_date():
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    late = TaskFactory(due_date=yesterday)
    TaskFactory(due_date=yesterday, status=Task.Status.DONE)
    TaskFactory(due_date=timezone.localdate() + dt.timedelta(days=1))
    TaskFactory(due_date=None)
    assert list(Task.objects.overdue()) == [late]


def test_assigned_to():
    ada = UserFactory()
    mine = TaskFactory(assignee=ada)
    TaskFactory(assignee=UserFactory())
    assert list(Task.objects.assigned_to(ada)) == [mine]


def test_active_projects_and_soft_deleted_ones_hidden():
    active = ProjectFactory()
    ProjectFactory(status=Project.Status.ARCHIVED)
    ProjectFactory(deleted_at=timezone.now())
    assert list(Project.objects.active()) == [active]
    assert Project.all_objects.active().count() == 2


def test_task_in_a_project_of_another_organization_is_rejected():
    task = TaskFactory.build(
        project=ProjectFactory(), organization=OrganizationFactory()
    )
    with pytest.raises(ValidationError, match="same organization"):
        task.full_clean()


def test_comment_on_a_task_of_another_organization_is_rejected():
    comment = CommentFactory.build(
        task=TaskFactory(), organization=OrganizationFactory()
    )
    with pytest.raises(ValidationError, match="same organization"):
        comment.full_clean()


def test_title_needs_three_characters_in_the_form_and_the_database():
    task = TaskFactory.build(project=ProjectFactory(), title="ab")
    task.organization = task.project.organization
    with pytest.raises(ValidationError):
        task.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        task.save()


def test_comment_html_is_stripped_and_length_capped():
    comment = CommentFactory.build(
        task=TaskFactory(), content="<b>Hello</b> <script>x</script>"
    )
    comment.organization = comment.task.organization
    comment.full_clean()
    assert comment.content == "Hello x"
    comment.content = "x" * (Comment.MAX_LENGTH + 1)
    with pytest.raises(ValidationError):
        comment.full_clean()


def test_project_key_is_unique_per_organization_only():
    project = ProjectFactory(key="WEB")
    ProjectFactory(key="WEB")  # another organization: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        ProjectFactory(key="WEB", organization=project.organization)
