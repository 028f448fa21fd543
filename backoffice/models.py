from django.db import models


class JobClusterHeartbeat(models.Model):
    """The last sign of life of the django-q2 job cluster, one row per cluster
    name, written by the cluster itself (see `backoffice.heartbeat`) and read by
    `/healthz`.

    Infrastructure, not business data: no history (it changes every few
    seconds), no admin, no tenant.
    """

    cluster = models.CharField(max_length=100, unique=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.cluster} on {self.host} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
