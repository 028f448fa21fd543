"""Helpers for tests that run the project's production processes (gunicorn, the
job cluster, management commands) as real child processes."""

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

# Variables of the test run that must not leak into a production process
# (tests/e2e sets DJANGO_ALLOW_ASYNC_UNSAFE, which check --deploy rejects).
_NOT_INHERITED = (
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "DATABASE_URL",
    "REDIS_URL",
    "DEBUG",
)
_NOT_INHERITED_PREFIXES = ("SENTRY_",)


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for a Django database configuration. With the embedded
    PostgreSQL, HOST is a Unix socket directory and goes into `?host=`."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(str(settings_dict.get("PASSWORD") or ""), safe="")
    auth = f"{user}:{password}@" if password else f"{user}@"
    name = quote(settings_dict["NAME"], safe="")
    host = settings_dict.get("HOST") or ""
    if host.startswith("/"):
        return f"postgres://{auth}/{name}?host={quote(host, safe='/')}"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{name}"


def production_env(settings_dict: dict, **extra: str) -> dict[str, str]:
    """The environment of a production process against the given database."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _NOT_INHERITED and not key.startswith(_NOT_INHERITED_PREFIXES)
    }
    env.update(
        DJANGO_SETTINGS_MODULE="backoffice.settings.production",
        SECRET_KEY="dummy-production-key-for-tests-0123456789-abcdefghijklmnop",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url(settings_dict),
        **extra,
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChildProcess:
    """A child process; a thread collects its stdout and stderr, line by line."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.args = args
        self.popen = subprocess.Popen(
            args,
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._output = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            with self._output:
                self.lines.append(line.rstrip("\n"))
                self._output.notify_all()
        with self._output:
            self._output.notify_all()

    def wait_for_output(self, predicate, timeout: float) -> bool:
        """Wait until `predicate(lines)` holds; False on timeout or exit."""
        with self._output:
            self._output.wait_for(
                lambda: predicate(self.lines) or self.popen.poll() is not None,
                timeout,
            )
            return predicate(self.lines)

    def _wait_for_new_output(self, timeout: float) -> None:
        with self._output:
            seen = len(self.lines)
            self._output.wait_for(lambda: len(self.lines) > seen, timeout)

    def wait_for_port(self, port: int, timeout: float) -> None:
        """Poll the port until it accepts a connection, for at most `timeout`
        seconds; between attempts, wait for new output (at most 0.2 s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if self.popen.poll() is not None:
                    break
                self._wait_for_new_output(timeout=0.2)
        raise AssertionError(
            f"{self.args} is not listening on {port}:\n" + "\n".join(self.lines)
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self._reader.join(timeout=10)
        self.popen.stdout.close()


def run_command(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a command to completion; fail with its output if it fails."""
    result = subprocess.run(
        args,
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}{result.stderr}"
    return result


def venv_script(name: str) -> str:
    """A console script of the running interpreter's environment (gunicorn)."""
    return str(Path(sys.executable).with_name(name))
