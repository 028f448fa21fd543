"""What every history row carries besides simple-history's own columns.

`operation_id` groups the history rows one operation wrote: a bulk action, an
import, a revert. It is the one way to find them again, to show them together and
to undo the operation as a whole. Rows written inside `history_operation(...)`
carry the block's id, whichever path writes them: `save()` (simple-history's
post_save), `bulk_create_with_history`, or a writer that builds historical rows
itself (their field default reads the current operation). Rows written outside a
block have none.
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import models
from simple_history.models import HistoricalRecords

_current_operation: ContextVar[uuid.UUID | None] = ContextVar(
    "history_operation", default=None
)


def current_operation_id() -> uuid.UUID | None:
    """The operation id of the enclosing `history_operation` block, if any."""
    return _current_operation.get()


@contextmanager
def history_operation(
    operation_id: uuid.UUID | str | None = None,
) -> Iterator[uuid.UUID]:
    """Stamp every history row written in the block with one operation id (a new
    one unless given); an enclosing block's id wins, so an operation made of
    smaller ones stays one operation."""
    outer = _current_operation.get()
    if outer is not None:
        yield outer
        return
    operation = uuid.UUID(str(operation_id)) if operation_id else uuid.uuid4()
    token = _current_operation.set(operation)
    try:
        yield operation
    finally:
        _current_operation.reset(token)


class HistoricalRecordBase(models.Model):
    """The abstract base of every historical model."""

    operation_id = models.UUIDField(
        null=True,
        blank=True,
        db_index=True,
        editable=False,
        default=current_operation_id,
    )

    class Meta:
        abstract = True


class AuditedHistoricalRecords(HistoricalRecords):
    """simple-history's HistoricalRecords whose rows carry an operation id."""

    def __init__(self, **kwargs):
        super().__init__(bases=[HistoricalRecordBase], **kwargs)
