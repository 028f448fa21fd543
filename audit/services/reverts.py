"""Reverts of history: one change, a whole version, a whole operation.

Each is a write like any other: validated, atomic, with history rows by the actor
(under an operation id of its own, so it can be undone in turn) and a `revert`
audit event; a refused revert changes nothing and says why.
"""

import uuid

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, router, transaction
from django.db.models.deletion import Collector

from audit.history import history_model_of, history_operation, restore_with_history
from audit.models import AuditEvent
from audit.selectors import operation_plan, operation_problems, revert_plan
from audit.services import _apply_update, _organization_of, audit_event_record
from tenants.models import Organization
from tenants.selectors import scope_rule


def _required_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise ValidationError({"reason": "Give a reason (it is kept in the history)."})
    return reason


def _refused(error: IntegrityError) -> ValidationError:
    return ValidationError(
        "The result would break a rule of the database "
        f"({error.__cause__ or error}); nothing was changed."
    )


@transaction.atomic
def history_revert(*, actor, record, reason: str, whole: bool = False) -> dict:
    """Undo the change one history row made (its fields back to the row before),
    or, with `whole`, bring the object back to that row's version.

    Validated like any edit (a version that would break a constraint is refused,
    nothing changed); a field changed again since is never overwritten. Writes
    history (actor, reason, an operation id of its own) and a `revert` audit
    event. Returns the changes {field: [old, new]}.
    """
    reason = _required_reason(reason)
    model = record.instance_type
    model._base_manager.select_for_update().filter(
        pk=getattr(record, model._meta.pk.attname)
    ).exists()  # taken first: the plan is then read under the lock
    plan = revert_plan(record=record, whole=whole)
    if plan.problems:
        raise ValidationError(plan.problems)
    instance = model._base_manager.get(pk=getattr(record, model._meta.pk.attname))
    with history_operation(reason=reason) as operation:
        try:
            with transaction.atomic():
                changes = _apply_update(
                    actor=actor, instance=instance, data=plan.values, reason=reason
                )
                instance._history_user = actor
                for name, ids in plan.links.items():
                    before = sorted(
                        getattr(instance, name).values_list("pk", flat=True)
                    )
                    getattr(instance, name).set(ids)
                    changes[name] = [before, sorted(ids)]
        except IntegrityError as error:
            raise _refused(error) from error
        audit_event_record(
            actor=actor,
            action=AuditEvent.Action.REVERT,
            organization=_organization_of(instance),
            target=instance,
            changes={
                "fields": changes,
                "mode": "version" if whole else "change",
                "history_id": record.history_id,
                "reason": reason,
                "operation_id": str(operation.id),
            },
        )
    return changes


@transaction.atomic
def operation_undo(*, actor, operation_id: uuid.UUID, reason: str) -> dict:
    """Undo a whole operation (a bulk action, an import, a revert): each row it
    changed goes back to its version before, each row it created is deleted.

    Refused, with nothing changed, when a row was changed after the operation
    (the message names them), when the operation deleted rows, and when the result
    would break a constraint. Writes history (actor, reason, an operation id of
    its own, so an undo can be undone too) and a `revert` audit event.
    Returns {"restored": n, "deleted": n, "operation_id": the undo's}.
    """
    reason = _required_reason(reason)
    plan = operation_plan(operation_id=operation_id)
    if not plan.items:
        raise ValidationError("No history rows carry this operation id.")
    for model, items in plan.by_model().items():
        list(
            model._base_manager.select_for_update()
            .filter(pk__in=[item.pk for item in items])
            .values_list("pk", flat=True)
        )
    plan = operation_plan(operation_id=operation_id)  # again, under the row locks
    problems = operation_problems(plan)
    if problems:
        raise ValidationError(problems)
    counts = {"restored": 0, "deleted": 0}
    with history_operation(reason=reason) as undo:
        try:
            with transaction.atomic():
                for model, items in plan.by_model().items():
                    counts["restored"] += len(
                        restore_with_history(
                            model=model,
                            history_ids=[
                                item.previous_id
                                for item in items
                                if item.kind == "changed"
                            ],
                            user_id=actor.pk,
                            reason=reason,
                        )
                    )
                    created = [item.pk for item in items if item.kind == "created"]
                    counts["deleted"] += _delete_created(actor, model, created)
                transaction.get_connection().check_constraints()
        except IntegrityError as error:
            raise _refused(error) from error
        audit_event_record(
            actor=actor,
            action=AuditEvent.Action.REVERT,
            organization=_organization_of_operation(plan),
            changes={
                "undone_operation_id": str(operation_id),
                "operation_id": str(undo.id),
                "reason": reason,
                **counts,
            },
        )
    return {**counts, "operation_id": undo.id}


def _delete_created(actor, model: type[models.Model], pks: list) -> int:
    """Delete rows an operation created, with their deletion history by `actor`;
    refused when the deletion would take rows the operation did not create."""
    if not pks:
        return 0
    collector = Collector(using=router.db_for_write(model))
    collector.collect(list(model._base_manager.filter(pk__in=pks)))
    created = set(pks)
    others = [
        row
        for rows_model, rows in collector.data.items()
        for row in rows
        if not (rows_model is model and row.pk in created)
    ]
    if others:
        names = ", ".join(f"{row._meta.verbose_name} “{row}”" for row in others[:5])
        raise ValidationError(
            f"Deleting the rows the operation created would also delete "
            f"{len(others)} row(s) added since ({names}); nothing was undone."
        )
    for rows in collector.data.values():
        for row in rows:
            row._history_user = actor
    collector.delete()
    return len(pks)


def _organization_of_operation(plan):
    """The one organization an operation wrote in, if there is one."""
    organization_ids = set()
    for model, items in plan.by_model().items():
        rule = scope_rule(model)
        if rule == "organization":
            organization_ids.update(item.pk for item in items)
        elif rule == "tenant":
            organization_ids.update(
                history_model_of(model)
                .objects.filter(operation_id=plan.operation_id)
                .values_list("organization_id", flat=True)
                .distinct()[:2]
            )
        else:
            return None
    if len(organization_ids) != 1:
        return None
    return Organization.all_objects.filter(pk=organization_ids.pop()).first()
