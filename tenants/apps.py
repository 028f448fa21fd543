from django.apps import AppConfig
from django.apps import apps as global_apps
from django.db.models.signals import post_migrate


def _sync_roles(sender, apps=global_apps, **kwargs):
    """Keep the role groups in step whenever Django (re)creates permissions: after
    migrate, and after a flush (which empties every table, groups included)."""
    from tenants.roles import sync_roles

    sync_roles(apps)


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants & billing"

    def ready(self):
        from tenants import permission_cache

        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="tenants_roles")
        permission_cache.connect()
