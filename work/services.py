"""Writes of projects, tasks, comments and tags: atomic, validated, audited."""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import models, router, transaction
from django.db.models.deletion import Collector, ProtectedError
from django.utils import timezone
from django.utils.html import strip_tags

from audit.models import AuditEvent
from audit.services import (
    audit_event_record,
    record_bulk_update,
    record_create,
    record_update,
)
from tenants.models import Membership, Organization, User
from tenants.services import job_queue_on_commit
from work.models import Comment, Notification, Project, Tag, Task


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
    changes = record_update(actor=actor, instance=task, data=data, reason=reason)
    if "completed_at" in changes and task.status == Task.Status.DONE:
        task_done_notification_queue(task=task)
    return changes


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


# --- Notifications and the trash, for jobs ------------------------------------------


def notification_create(
    *, actor, organization_id: int, recipient: User, category: str, message: str
) -> Notification:
    return record_create(
        actor=actor,
        instance=Notification(
            organization_id=organization_id,
            recipient=recipient,
            category=category,
            message=message[:500],
        ),
    )


def task_done_notification_queue(*, task: Task) -> None:
    """After commit, queue the "task done" notification and email of the assignee."""
    if task.assignee_id is None:
        return
    job_queue_on_commit(
        "work.jobs.task_done_notify",
        task_id=task.pk,
        completed_at=task.completed_at.isoformat(),
    )


def _deletion(*, actor, instance: models.Model) -> Collector:
    """What deleting `instance` removes, each row stamped with `actor` for its
    history row. Raises ProtectedError when protected rows depend on it."""
    collector = Collector(using=router.db_for_write(type(instance)), origin=instance)
    collector.collect([instance])
    for rows in collector.data.values():
        for row in rows:
            row._history_user = actor
    return collector


@transaction.atomic
def trash_purge(
    *, actor, model: type[models.Model], pks: list, deleted_before: dt.datetime
) -> dict[str, int]:
    """Hard-delete the rows of `pks` still in the trash since before `deleted_before`.

    Their history is kept (each deleted row, cascades included, gets a deletion
    history row by `actor`) and each gets a `delete` audit event. A row that
    protected rows (invoices) depend on is kept. Returns {"deleted": n, "protected": n}.
    """
    counts = {"deleted": 0, "protected": 0}
    rows = model.all_objects.filter(pk__in=pks, deleted_at__lt=deleted_before)
    if model is not Organization:
        rows = rows.select_related("organization")
    for instance in rows.select_for_update(of=("self",)).order_by("pk"):
        try:
            deletion = _deletion(actor=actor, instance=instance)
        except ProtectedError:
            counts["protected"] += 1
            continue
        audit_event_record(
            actor=actor,
            action=AuditEvent.Action.DELETE,
            organization=instance
            if isinstance(instance, Organization)
            else instance.organization,
            target=instance,
            changes={
                "deleted_at": instance.deleted_at.isoformat(),
                "rows": {m._meta.label: len(r) for m, r in deletion.data.items()},
            },
        )
        deletion.delete()
        counts["deleted"] += 1
    return counts


# --- Bulk task actions: all-or-nothing, one history row per task, one audit event ----


def _single_organization_id(tasks) -> int | None:
    ids = {task.organization_id for task in tasks}
    return ids.pop() if len(ids) == 1 else None


def _organization_of_bulk(tasks):
    organization_id = _single_organization_id(tasks)
    return Organization(pk=organization_id) if organization_id else None


@transaction.atomic
def tasks_assign(*, actor, tasks: list[Task], assignee: User | None) -> int:
    """Assign tasks to a member of their organization (None unassigns them)."""
    if assignee is not None:
        member_of = set(
            Membership.objects.filter(user=assignee).values_list(
                "organization_id", flat=True
            )
        )
        outside = [task for task in tasks if task.organization_id not in member_of]
        if outside:
            raise ValidationError(
                f"{assignee.email} is not a member of the organization of "
                f"{len(outside)} selected task(s); nothing was assigned."
            )
    return record_bulk_update(
        actor=actor,
        instances=tasks,
        data={"assignee_id": assignee.pk if assignee else None},
        action="assign",
        organization=_organization_of_bulk(tasks),
    )


@transaction.atomic
def tasks_set_status(*, actor, tasks: list[Task], status: str) -> int:
    """Move tasks to `status`; DONE stamps completed_at, leaving DONE clears it."""
    if status not in Task.Status.values:
        raise ValidationError(f"Unknown status {status!r}.")
    moving = [task for task in tasks if task.status != status]
    done = status == Task.Status.DONE
    changed = record_bulk_update(
        actor=actor,
        instances=moving,
        data={"status": status, "completed_at": timezone.now() if done else None},
        action="change_status",
        organization=_organization_of_bulk(tasks),
    )
    if done:
        for task in moving:
            task_done_notification_queue(task=task)
    return changed


@transaction.atomic
def tasks_set_due_date(*, actor, tasks: list[Task], due_date: dt.date | None) -> int:
    return record_bulk_update(
        actor=actor,
        instances=tasks,
        data={"due_date": due_date},
        action="set_due_date",
        organization=_organization_of_bulk(tasks),
    )


@transaction.atomic
def tasks_move(*, actor, tasks: list[Task], project: Project) -> int:
    """Move tasks to another project of the same organization."""
    organization_ids = {task.organization_id for task in tasks}
    if len(organization_ids) > 1:
        raise ValidationError(
            f"The selected tasks belong to {len(organization_ids)} organizations; "
            "tasks can only move within one organization. Filter by organization "
            "and try again."
        )
    if organization_ids and project.organization_id not in organization_ids:
        raise ValidationError(
            f"Project {project.key} belongs to another organization than the tasks."
        )
    return record_bulk_update(
        actor=actor,
        instances=tasks,
        data={"project_id": project.pk},
        action="move",
        organization=project.organization,
    )
