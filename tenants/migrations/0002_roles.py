"""The four staff roles (groups) and their permissions, as DESIGN.md's matrix says."""

from django.db import migrations


def apply_roles(apps, schema_editor):
    from tenants.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0001_initial"),
        ("work", "0001_initial"),
        ("audit", "0003_append_only_trigger"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(apply_roles, migrations.RunPython.noop)]
