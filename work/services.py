"""Writes of projects, tasks, comments and tags: atomic, validated, audited."""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.html import strip_tags

from audit.services import record_create, record_update
from tenants.models import Organization, User
from work.models import Comment, Project, Tag, Task


def project_create(
    *,
    actor,
    organization: Organization,
    name: str,
    key: str,
    owner: User | None = None,
    description: str = "",
) -> Project:
    return record_create(
        actor=actor,
        instance=Project(
            organization=organization,
            name=name,
            key=key.upper(),
            owner=owner,
            description=description,
        ),
    )


def tag_create(*, actor, organization: Organization, name: str, color: str = "primary"):
    return record_create(
        actor=actor, instance=Tag(organization=organization, name=name, color=color)
    )


@transaction.atomic
def task_create(
    *,
    actor,
    project: Project,
    title: str,
    description: str = "",
    status: str = Task.Status.TODO,
    priority: int = Task.Priority.MEDIUM,
    assignee: User | None = None,
    due_date: dt.date | None = None,
    tags: list[Tag] | tuple = (),
    custom_fields: dict | None = None,
) -> Task:
    """Create a task in `project`; it belongs to the project's organization."""
    task = Task(
        organization_id=project.organization_id,
        project=project,
        title=title,
        description=description,
        status=status,
        priority=priority,
        assignee=assignee,
        reporter=actor,
        due_date=due_date,
        custom_fields=custom_fields or {},
        completed_at=timezone.now() if status == Task.Status.DONE else None,
    )
    record_create(actor=actor, instance=task)
    if tags:
        if any(tag.organization_id != task.organization_id for tag in tags):
            raise ValidationError(
                {"tags": "Tags must belong to the same organization."}
            )
        task.tags.set(tags)
    return task


def task_update(*, actor, task: Task, reason: str | None = None, **data) -> dict:
    """Change task fields; DONE stamps completed_at, leaving DONE clears it."""
    if "status" in data:
        done = data["status"] == Task.Status.DONE
        if done and task.status != Task.Status.DONE:
            data["completed_at"] = timezone.now()
        elif not done:
            data["completed_at"] = None
    return record_update(actor=actor, instance=task, data=data, reason=reason)


def comment_create(*, actor, task: Task, content: str) -> Comment:
    return record_create(
        actor=actor,
        instance=Comment(
            organization_id=task.organization_id,
            task=task,
            author=actor,
            content=content,
        ),
    )


@transaction.atomic
def comment_edit(*, actor, comment: Comment, content: str) -> dict:
    """Replace a comment's text, keeping the previous text in its edit history."""
    content = strip_tags(content).strip()
    if content == comment.content:
        return {}
    edit_history = [
        *comment.edit_history,
        {
            "at": timezone.now().isoformat(),
            "by": actor.email,
            "content": comment.content,
        },
    ]
    return record_update(
        actor=actor,
        instance=comment,
        data={"content": content, "is_edited": True, "edit_history": edit_history},
    )
