"""django-q2 task functions of tenants and billing; thin wrappers over services.

Every run writes a `job_run` audit event by the system actor. Schedules are
registered by `manage.py register_schedules`.
"""

import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from itertools import batched

from django.db import transaction
from django.utils import timezone

from audit.selectors import job_runs_about
from tenants.job_support import advisory_lock, email_message, email_send_once
from tenants.models import Organization, PlanTier, Subscription
from tenants.selectors import (
    LIVE_SUBSCRIPTION_STATUSES,
    organization_admin_emails,
    organization_has_current_subscription,
)
from tenants.services import (
    job_queue,
    job_run_record,
    organization_subscriptions_expire,
    system_actor,
)

logger = logging.getLogger(__name__)

SYNC_JOB = "tenants.jobs.sync_expired_subscriptions"
EXPIRED_EMAIL_JOB = "tenants.jobs.subscription_expired_email"


class JobIncomplete(Exception):
    """Some batches failed and were rolled back; the others are committed."""


def _ended_subscriptions(*, since: dt.datetime, until: dt.datetime):
    return Subscription.objects.filter(
        status__in=LIVE_SUBSCRIPTION_STATUSES,
        current_period_end__gte=since,
        current_period_end__lte=until,
    )


def sync_expired_subscriptions(
    *,
    since_hours: int = 24,
    batch_size: int = 100,
    dry_run: bool = False,
    progress: Callable[[str], object] | None = None,
) -> dict:
    """Expire the live subscriptions whose period ended in the last `since_hours`
    and move their organizations to the free tier, `batch_size` organizations per
    transaction; a failing batch is rolled back alone and reported at the end.

    Safe to run twice: an expired subscription is not picked again, and emails
    queued by a run that crashed before sending them are queued again (sent once).
    Holds an advisory lock: a concurrent run raises JobLocked at once.
    """
    say = progress or (
        lambda line: logger.info(json.dumps({"event": "progress", "message": line}))
    )
    with advisory_lock(SYNC_JOB):
        now = timezone.now()
        since = now - dt.timedelta(hours=since_hours)
        actor = system_actor()
        summary = {
            "dry_run": dry_run,
            "since_hours": since_hours,
            "organizations": 0,
            "subscriptions": 0,
            "moved_to_free": 0,
            "failed_batches": [],
            "emails_queued_again": 0 if dry_run else _queue_unsent_emails(since=since),
        }
        organization_ids = (
            _ended_subscriptions(since=since, until=now)
            .order_by("organization_id")
            .values_list("organization_id", flat=True)
            .distinct()
            .iterator(chunk_size=batch_size)
        )
        handle = _preview if dry_run else partial(_expire, actor=actor)
        for number, batch in enumerate(batched(organization_ids, batch_size), 1):
            try:
                with transaction.atomic():
                    results = [handle(pk, since=since, until=now) for pk in batch]
            except Exception as error:
                # Only this batch is rolled back; it is reported, the run goes on.
                summary["failed_batches"].append(number)
                logger.exception(
                    json.dumps(
                        {
                            "event": "batch_failed",
                            "batch": number,
                            "organizations": list(batch),
                            "error": str(error),
                        }
                    )
                )
                say(f"Batch {number}: failed and rolled back ({error})")
                continue
            for result in results:
                logger.info(json.dumps(result))
                summary["organizations"] += 1
                summary["subscriptions"] += len(result["subscriptions"])
                summary["moved_to_free"] += "plan_tier" in result
            verb = "would expire" if dry_run else "expired"
            say(
                f"Batch {number}: {len(results)} organizations, "
                f"{sum(len(r['subscriptions']) for r in results)} subscriptions {verb}"
            )
        if not dry_run:
            job_run_record(job=SYNC_JOB, summary=summary)
        if summary["failed_batches"]:
            raise JobIncomplete(
                f"Batches {summary['failed_batches']} failed and were rolled back; "
                f"the others are committed. Summary: {json.dumps(summary)}"
            )
        return summary


def _expire(organization_id: int, *, since, until, actor) -> dict:
    organization = Organization.all_objects.get(pk=organization_id)
    subscriptions = list(
        _ended_subscriptions(since=since, until=until)
        .filter(organization=organization)
        .select_for_update()
    )
    changes = organization_subscriptions_expire(
        actor=actor, organization=organization, subscriptions=subscriptions
    )
    return {
        "event": "subscriptions_expired",
        "organization": organization.pk,
        "slug": organization.slug,
        **changes,
    }


def _preview(organization_id: int, *, since, until) -> dict:
    organization = Organization.all_objects.get(pk=organization_id)
    ids = sorted(
        _ended_subscriptions(since=since, until=until)
        .filter(organization=organization)
        .values_list("pk", flat=True)
    )
    result = {
        "event": "subscriptions_expired",
        "dry_run": True,
        "organization": organization.pk,
        "slug": organization.slug,
        "subscriptions": ids,
    }
    if organization.plan_tier != PlanTier.FREE and not (
        organization_has_current_subscription(organization=organization)
    ):
        result["plan_tier"] = [organization.plan_tier, PlanTier.FREE]
    return result


def _queue_unsent_emails(*, since: dt.datetime) -> int:
    """Queue again the expiry emails of subscriptions this job expired since
    `since` that no sent email covers (a run that crashed after its commit)."""
    expired = (
        Subscription.history.filter(
            history_user=system_actor(),
            history_type="~",
            history_date__gte=since,
            status=Subscription.Status.EXPIRED,
        )
        .values_list("organization_id", "id")
        .distinct()
    )
    by_organization = defaultdict(set)
    for organization_id, subscription_id in expired:
        by_organization[organization_id].add(subscription_id)
    queued = 0
    for organization in Organization.all_objects.filter(pk__in=by_organization):
        announced = {
            subscription_id
            for subscriptions in job_runs_about(
                target=organization, job=EXPIRED_EMAIL_JOB
            )
            .filter(changed_fields__status="sent")
            .values_list("changed_fields__subscriptions", flat=True)
            for subscription_id in subscriptions
        }
        pending = sorted(by_organization[organization.pk] - announced)
        if pending and not organization_has_current_subscription(
            organization=organization
        ):
            job_queue(
                EXPIRED_EMAIL_JOB,
                organization_id=organization.pk,
                subscription_ids=pending,
            )
            queued += 1
    return queued


def subscription_expired_email(
    *, organization_id: int, subscription_ids: list[int], attempt: int = 0
) -> dict:
    """Tell an organization's owners and admins that its subscription ended and
    it is on the free tier now. Sent once per set of subscriptions."""
    organization = Organization.all_objects.get(pk=organization_id)
    ids = sorted(subscription_ids)

    def compose():
        to = organization_admin_emails(organization=organization)
        if not to or organization_has_current_subscription(organization=organization):
            return None
        subscriptions = Subscription.objects.filter(pk__in=ids).select_related("plan")
        return email_message(
            template="tenants/emails/subscription_expired",
            subject=f"{organization.name}: your subscription has ended",
            to=to,
            context={"organization": organization, "subscriptions": subscriptions},
        )

    return email_send_once(
        job=EXPIRED_EMAIL_JOB,
        key=f"subscription_expired:{organization_id}:{','.join(map(str, ids))}",
        target=organization,
        attempt=attempt,
        retry_kwargs={"organization_id": organization_id, "subscription_ids": ids},
        compose=compose,
        details={"subscriptions": ids},
    )
