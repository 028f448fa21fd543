"""`/healthz`: 200 when the database answers and the job cluster's heartbeat is
fresh, 503 otherwise, with a JSON body that says which part is unhealthy.

Served by a middleware that sits before `SecurityMiddleware` and
`CommonMiddleware`: a platform health checker calls the machine by its private
address, over plain HTTP, so the endpoint skips the HTTPS redirect and the
`ALLOWED_HOSTS` check (it reads nothing from the request).
"""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone

from backoffice.heartbeat import last_heartbeat

HEALTHZ_PATH = "/healthz"


def healthz(request) -> JsonResponse:
    body = {"database": "ok", "jobs": "unknown", "heartbeat_age_seconds": None}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        beat_at = last_heartbeat()
    except Exception as exc:  # any failure means unhealthy; say which
        body["database"] = f"error: {type(exc).__name__}"
        return JsonResponse(body, status=503)
    if beat_at is None:
        body["jobs"] = "no heartbeat"
    else:
        age = (timezone.now() - beat_at).total_seconds()
        body["heartbeat_age_seconds"] = round(age)
        fresh = age <= settings.HEALTHZ_MAX_HEARTBEAT_AGE
        body["jobs"] = "ok" if fresh else "stale heartbeat"
    return JsonResponse(body, status=200 if body["jobs"] == "ok" else 503)


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == HEALTHZ_PATH and request.method in ("GET", "HEAD"):
            return healthz(request)
        return self.get_response(request)
