"""Writes of audit records and history. Every business service calls in here.

Reverts and undos are in `audit.services.reverts`, the history retention in
`audit.services.retention`.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, router, transaction
from django.db.models.deletion import Collector
from django.utils import timezone

from audit.history import history_operation, update_with_history
from audit.middleware import current_request
from audit.models import AuditEvent


def _jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, (str, int, float, bool, type(None), list, dict)):
        return value
    return str(value)


def audit_event_record(
    *,
    actor,
    action: str,
    organization=None,
    target: models.Model | None = None,
    changes: dict[str, Any] | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Append one audit event; the client address comes from the current request.

    `actor_label` names an actor who is not a user (an attempted email, a job).
    """
    context = current_request.get()
    event = AuditEvent(
        actor=actor if actor is not None and actor.pk else None,
        actor_label=actor_label or getattr(actor, "email", "") or "system",
        action=action,
        organization=organization,
        changed_fields={k: _jsonable(v) for k, v in (changes or {}).items()},
        ip_address=context.ip_address if context else None,
        user_agent=context.user_agent if context else "",
    )
    if target is not None:
        event.target = target
        event.target_repr = str(target)[:300]
    event.save()
    return event


def diff_fields(old: models.Model | None, new: models.Model, fields: list[str]) -> dict:
    """Field-level changes as {field: [old, new]} for the fields that differ."""
    changes = {}
    for name in fields:
        before = getattr(old, name, None) if old is not None else None
        after = getattr(new, name)
        if before != after:
            changes[name] = [_jsonable(before), _jsonable(after)]
    return changes


def save_with_history(
    obj: models.Model, *, actor, reason: str | None = None, **kw
) -> None:
    """full_clean() and save() with the actor (and reason) on the history row."""
    obj.full_clean()
    obj._history_user = actor
    if reason:
        obj._change_reason = reason
    obj.save(**kw)


class VersionConflict(ValidationError):
    """Someone saved the row after the caller read it; nothing was overwritten."""

    def __init__(self, instance: models.Model):
        last = (
            instance.history.order_by("-history_id")
            .select_related("history_user")
            .first()
        )
        who = getattr(getattr(last, "history_user", None), "email", None) or "someone"
        when = f" at {last.history_date:%Y-%m-%d %H:%M} UTC" if last else ""
        super().__init__(
            f"This {instance._meta.verbose_name} was changed by {who}{when} after you "
            "opened it. Nothing was saved: reload the page to see their changes, "
            "then apply yours again.",
            code="version_conflict",
        )


def _organization_of(instance: models.Model):
    from tenants.models import Organization

    if isinstance(instance, Organization):
        return instance
    return getattr(instance, "organization", None)


def _editable_fields(instance: models.Model) -> list[str]:
    return [
        f.attname
        for f in instance._meta.concrete_fields
        if f.editable and not f.primary_key
    ]


@transaction.atomic
def record_create(*, actor, instance: models.Model, reason: str | None = None):
    """Validate and insert `instance`, with history and a `create` audit event."""
    save_with_history(instance, actor=actor, reason=reason)
    audit_event_record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        organization=_organization_of(instance),
        target=instance,
        changes=diff_fields(None, instance, _editable_fields(instance)),
    )
    return instance


def _apply_update(
    *,
    actor,
    instance: models.Model,
    data: dict[str, Any],
    reason: str | None,
    expected_version: int | None = None,
) -> dict:
    """Set `data` on `instance` and save what changed (validated, with history);
    the {field: [old, new]} changes. The caller is atomic and writes the audit."""
    versioned = any(f.name == "version" for f in instance._meta.concrete_fields)
    if versioned:
        current = (
            type(instance)
            ._base_manager.select_for_update()
            .values_list("version", flat=True)
            .get(pk=instance.pk)
        )
        if expected_version is not None and expected_version != current:
            raise VersionConflict(instance)
    before = {name: getattr(instance, name) for name in data}
    for name, value in data.items():
        setattr(instance, name, value)
    changes = {
        name: [_jsonable(before[name]), _jsonable(getattr(instance, name))]
        for name in data
        if before[name] != getattr(instance, name)
    }
    if not changes:
        return changes
    update_fields = [instance._meta.get_field(n).name for n in changes]
    if any(f.name == "updated_at" for f in instance._meta.concrete_fields):
        update_fields.append("updated_at")
    if versioned:
        instance.version = current + 1
        update_fields.append("version")
    save_with_history(instance, actor=actor, reason=reason, update_fields=update_fields)
    return changes


@transaction.atomic
def record_update(
    *,
    actor,
    instance: models.Model,
    data: dict[str, Any],
    reason: str | None = None,
    expected_version: int | None = None,
):
    """Apply `data` to `instance`; save only what changed, with history and audit.

    On versioned models the row is locked and its version bumped; when the caller
    edited `expected_version` and the row has moved on since, VersionConflict is
    raised and nothing is written. Returns the {field: [old, new]} changes (empty:
    nothing was written).
    """
    changes = _apply_update(
        actor=actor,
        instance=instance,
        data=data,
        reason=reason,
        expected_version=expected_version,
    )
    if changes:
        audit_event_record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            organization=_organization_of(instance),
            target=instance,
            changes=changes,
        )
    return changes


@transaction.atomic
def record_soft_delete(*, actor, instance: models.Model, reason: str | None = None):
    """Move a soft-deletable row to the trash (history and audit kept)."""
    if instance.deleted_at is not None:
        return instance
    instance.deleted_at = timezone.now()
    save_with_history(
        instance, actor=actor, reason=reason, update_fields=["deleted_at", "updated_at"]
    )
    audit_event_record(
        actor=actor,
        action=AuditEvent.Action.SOFT_DELETE,
        organization=_organization_of(instance),
        target=instance,
    )
    return instance


@transaction.atomic
def record_restore(*, actor, instance: models.Model, reason: str | None = None):
    """Bring a soft-deleted row back from the trash."""
    if instance.deleted_at is None:
        return instance
    instance.deleted_at = None
    save_with_history(
        instance, actor=actor, reason=reason, update_fields=["deleted_at", "updated_at"]
    )
    audit_event_record(
        actor=actor,
        action=AuditEvent.Action.RESTORE,
        organization=_organization_of(instance),
        target=instance,
    )
    return instance


def _validated(model: type[models.Model], data: dict[str, Any]) -> None:
    """Field-level validation of bulk values (choices, lengths, existing keys)."""
    errors = {}
    for name, value in data.items():
        try:
            model._meta.get_field(name).clean(value, None)
        except ValidationError as error:
            errors[name] = error.messages
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def record_bulk_update(
    *,
    actor,
    instances,
    data: dict[str, Any],
    action: str,
    reason: str | None = None,
    organization=None,
) -> int:
    """Apply the same `data` to many rows (a list of instances, or a queryset, which
    is not loaded): one history row each with the actor, the reason and the
    operation id, a version bump on versioned models, and one `bulk_action` audit
    event naming the action, the operation and the rows.

    Rows and history rows are written by one statement. Returns how many rows
    changed; rows already in that state are left alone.
    """
    if isinstance(instances, models.QuerySet):
        model, pks = instances.model, instances
    else:
        instances = list(instances)
        if not instances:
            return 0
        model, pks = type(instances[0]), [obj.pk for obj in instances]
    _validated(model, data)
    with history_operation(reason=reason) as operation:
        reason = reason or operation.reason or action
        try:
            with transaction.atomic():
                changed_ids = update_with_history(
                    model=model,
                    pks=pks,
                    values=data,
                    user_id=actor.pk,
                    reason=reason,
                )
        except IntegrityError as error:
            raise ValidationError(
                f"The change breaks a rule of the database ({error.__cause__ or error})"
                "; nothing was changed."
            ) from error
        if isinstance(pks, list):
            _refresh(instances, set(changed_ids), data)
        if changed_ids:
            audit_event_record(
                actor=actor,
                action=AuditEvent.Action.BULK_ACTION,
                organization=organization,
                changes={
                    "action": action,
                    "count": len(changed_ids),
                    "ids": changed_ids[:1000],
                    "data": {k: _jsonable(v) for k, v in data.items()},
                    "operation_id": str(operation.id),
                    "reason": reason,
                },
            )
    return len(changed_ids)


def _refresh(instances: list, changed: set, data: dict) -> None:
    """The caller's instances as the bulk statement left their rows."""
    versioned = any(f.name == "version" for f in instances[0]._meta.concrete_fields)
    for instance in instances:
        if instance.pk in changed:
            for name, value in data.items():
                setattr(instance, name, value)
            if versioned:
                instance.version += 1


@transaction.atomic
def records_delete(*, actor, instances) -> int:
    """Hard-delete rows and what cascades from them, under one operation: each
    deleted row gets its deletion history row by `actor`, each given row a
    `delete` audit event counting what went with it. Returns the rows given."""
    count = 0
    with history_operation():
        for instance in instances:
            collector = Collector(
                using=router.db_for_write(type(instance)), origin=instance
            )
            collector.collect([instance])
            for rows in collector.data.values():
                for row in rows:
                    row._history_user = actor
            audit_event_record(
                actor=actor,
                action=AuditEvent.Action.DELETE,
                organization=_organization_of(instance),
                target=instance,
                changes={
                    "rows": {m._meta.label: len(r) for m, r in collector.data.items()}
                },
            )
            collector.delete()
            count += 1
    return count


def records_soft_delete(*, actor, instances, organization=None) -> int:
    """Move soft-deletable rows to the trash (restorable), as one bulk action."""
    return record_bulk_update(
        actor=actor,
        instances=[obj for obj in instances if obj.deleted_at is None],
        data={"deleted_at": timezone.now()},
        action="soft_delete",
        organization=organization,
    )


def records_restore(*, actor, instances, organization=None) -> int:
    """Bring soft-deleted rows back from the trash, as one bulk action."""
    return record_bulk_update(
        actor=actor,
        instances=[obj for obj in instances if obj.deleted_at is not None],
        data={"deleted_at": None},
        action="restore",
        organization=organization,
    )
