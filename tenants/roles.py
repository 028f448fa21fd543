"""The four staff roles of DESIGN.md as data, and the function that applies them.

Roles are Django groups. `sync_roles` is idempotent and is run by data
migrations, so a fresh database has the groups and their permissions.
"""

PLATFORM_ADMIN = "Platform admin"
TENANT_MANAGER = "Tenant manager"
SUPPORT_AGENT = "Support agent"
FINANCE = "Finance"

ALL = ("view", "add", "change", "delete")
VIEW = ("view",)
VIEW_ADD_CHANGE = ("view", "add", "change")

# {role: {"app_label.model": actions}}; custom permissions are listed by codename.
ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    TENANT_MANAGER: {
        "tenants.organization": VIEW_ADD_CHANGE
        + ("view_all_organizations", "suspend_organization", "assign_support"),
        "tenants.membership": VIEW_ADD_CHANGE,
        "tenants.user": VIEW_ADD_CHANGE,
        "tenants.plan": VIEW,
        "tenants.subscription": VIEW,
        "tenants.invoice": VIEW,
        "work.project": VIEW,
        "work.task": VIEW,
        "work.comment": VIEW,
        "work.tag": VIEW,
        "audit.auditevent": VIEW,
        "django_q.schedule": VIEW,
    },
    SUPPORT_AGENT: {
        "tenants.organization": VIEW,
        "tenants.membership": VIEW,
        "tenants.user": VIEW,
        "work.project": VIEW_ADD_CHANGE,
        "work.task": VIEW_ADD_CHANGE,
        "work.comment": VIEW_ADD_CHANGE,
        "work.tag": VIEW_ADD_CHANGE,
        "audit.auditevent": VIEW,
    },
    FINANCE: {
        "tenants.organization": VIEW + ("view_all_organizations",),
        "tenants.membership": VIEW,
        "tenants.user": VIEW,
        "tenants.plan": VIEW_ADD_CHANGE + ("import_plan", "export_plan"),
        "tenants.subscription": VIEW_ADD_CHANGE
        + ("import_subscription", "export_subscription"),
        "tenants.invoice": VIEW_ADD_CHANGE + ("import_invoice", "export_invoice"),
        "audit.auditevent": VIEW,
        # Their own imports (the import job admin shows each user only theirs).
        "audit.importjob": VIEW,
    },
    # Platform admins are superusers; the group exists so the role can be granted
    # and listed like the others. Reverting history is theirs alone by default.
    PLATFORM_ADMIN: {"audit.auditevent": ("revert_history",)},
}


def _codename(action: str, model: str) -> str:
    return f"{action}_{model}" if action in ALL else action


def sync_roles(apps) -> None:
    """Create the role groups and set exactly the permissions the matrix gives them."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; make sure they exist now.
    # (Migration state apps have no models module; the project's real apps do.)
    for app_config in apps.get_app_configs():
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    # An earlier migration runs this with today's matrix: permissions of models or
    # Meta options that a later migration adds do not exist yet and are skipped;
    # the migration that adds them runs sync_roles again.
    existing = {
        (p.content_type.app_label, p.content_type.model, p.codename): p
        for p in Permission.objects.select_related("content_type")
    }
    for role, matrix in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for label, actions in matrix.items():
            app_label, model = label.split(".")
            for action in actions:
                key = (app_label, model, _codename(action, model))
                if key in existing:
                    wanted.append(existing[key])
        group.permissions.set(wanted)
