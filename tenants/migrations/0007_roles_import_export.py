"""Finance imports and exports billing data: re-apply the role matrix now that
every model has its import_/export_ permissions and import jobs exist."""

from django.db import migrations


def apply_roles(apps, schema_editor):
    from tenants.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0006_import_export_permissions"),
        ("work", "0004_import_export_permissions"),
        ("audit", "0005_importjob"),
    ]

    operations = [migrations.RunPython(apply_roles, migrations.RunPython.noop)]
