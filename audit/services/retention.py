"""The history retention: old history rows deleted in short batches."""

import datetime as dt

from django.utils import timezone

from audit.history import history_prune, retention_days, tracked_models


def history_retention_apply(*, batch_size: int = 5000, now=None) -> dict:
    """Delete the history rows older than each model's retention
    (`settings.HISTORY_RETENTION_DAYS`), oldest first, `batch_size` rows per
    transaction. Returns per model the policy, rows deleted, batches and the
    longest batch (milliseconds, from its first statement to its commit)."""
    now = now or timezone.now()
    summary = {}
    for model in tracked_models():
        days = retention_days(model)
        if days is None:
            continue
        deleted = batches = 0
        longest = 0.0
        for batch in history_prune(
            model, before=now - dt.timedelta(days=days), batch_size=batch_size
        ):
            deleted += batch.rows
            batches += 1
            longest = max(longest, batch.seconds)
        summary[model._meta.label] = {
            "days": days,
            "deleted": deleted,
            "batches": batches,
            "longest_batch_ms": round(longest * 1000, 1),
        }
    return summary
