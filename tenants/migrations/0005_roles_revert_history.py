"""Platform admins may revert history and undo operations: apply the role matrix
now that `audit.revert_history` exists."""

from django.db import migrations


def apply_roles(apps, schema_editor):
    from tenants.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0004_history_operation_id"),
        ("audit", "0004_auditevent_revert_history"),
    ]

    operations = [migrations.RunPython(apply_roles, migrations.RunPython.noop)]
