from django.contrib.postgres.operations import RemoveIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    # A sorted column ties by id in its own direction: the descending due-date
    # index serves ascending sorts read backwards, the ascending one goes.
    atomic = False

    dependencies = [
        ("work", "0009_task_fk_indexes_in_composites"),
    ]

    operations = [
        RemoveIndexConcurrently(model_name="task", name="task_due_asc_live_idx"),
    ]
