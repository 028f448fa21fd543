"""`make backup` / `make restore`: pg_dump of the database, pg_restore into an
empty one, for real against the test database."""

import io
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from psycopg import sql

from backoffice import pgtools
from tests.factories import (
    CommentFactory,
    InvoiceFactory,
    MembershipFactory,
    TagFactory,
)
from tests.processes import database_url


def table_counts(settings_dict: dict) -> dict[str, int]:
    """Row count of every table in the `public` schema."""
    with pgtools.connect(settings_dict) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        ).fetchall()
        return {
            name: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))
            ).fetchone()[0]
            for (name,) in tables
        }


@pytest.fixture
def empty_database():
    """A new, empty database on the test server; dropped afterwards."""
    name = f"{connection.settings_dict['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    server = {**connection.settings_dict, "NAME": "postgres"}
    with pgtools.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield {**connection.settings_dict, "NAME": name}
    with pgtools.connect(server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
        )


def backup(tmp_path: Path) -> Path:
    out = io.StringIO()
    call_command("backup_database", output_dir=tmp_path, stdout=out)
    return Path(out.getvalue().strip())


@pytest.mark.django_db(transaction=True)
def test_backup_then_restore_reproduces_every_table(tmp_path, empty_database):
    # Committed data in most tables: tenants, billing, work, history, audit.
    for _ in range(3):
        CommentFactory.create_batch(2)
        InvoiceFactory()
        MembershipFactory()
        TagFactory()
    source = table_counts(connection.settings_dict)

    dump = backup(tmp_path)
    assert dump.parent == tmp_path and dump.suffix == ".dump"
    assert dump.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format

    out = io.StringIO()
    call_command(
        "restore_database",
        str(dump),
        target_database_url=database_url(empty_database),
        stdout=out,
    )

    assert f"into database '{empty_database['NAME']}'" in out.getvalue()
    restored = table_counts(empty_database)
    assert restored == source
    assert restored["work_comment"] == 6
    assert restored["tenants_invoice"] == 3


def test_restore_refuses_a_database_that_is_not_empty(db, tmp_path):
    dump = backup(tmp_path)
    with pytest.raises(
        CommandError, match=r"Refusing to restore: database .* is not empty"
    ):
        call_command("restore_database", str(dump))


def test_restore_says_when_the_backup_file_is_missing(tmp_path):
    with pytest.raises(CommandError, match="No such backup file"):
        call_command("restore_database", str(tmp_path / "missing.dump"))
