"""Session-scoped real servers: the embedded PostgreSQL and Tansu, or external ones from the environment.

Set HUB_TEST_DATABASE_ADMIN_URL (a libpq URI of a database the tests may create databases from) and
HUB_TEST_KAFKA_BOOTSTRAP_SERVERS to run the suite against servers you started yourself.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from hub.bootstrap import Hub, bootstrap, create_db_engine
from hub.runtime.embedded import EmbeddedBroker, EmbeddedPostgres, to_sqlalchemy_url
from hub.settings import Settings
from hub.store.migrate import upgrade


class DatabaseServer:
    """Creates isolated databases on one PostgreSQL server."""

    def __init__(self, admin_uri: str) -> None:
        self.admin_uri = admin_uri

    def create_database(self, name: str) -> str:
        """Create (or recreate) a database and return its SQLAlchemy URL."""
        with psycopg.connect(self.admin_uri, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        base, _, query = self.admin_uri.partition("?")
        root = base.rsplit("/", 1)[0]
        uri = f"{root}/{name}" + (f"?{query}" if query else "")
        return to_sqlalchemy_url(uri)


@pytest.fixture(scope="session")
def database_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseServer]:
    external = os.environ.get("HUB_TEST_DATABASE_ADMIN_URL")
    if external:
        yield DatabaseServer(external)
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("postgres") / "data")
    server.start()
    try:
        yield DatabaseServer(server.admin_url())
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("HUB_TEST_KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    broker = EmbeddedBroker(log_path=tmp_path_factory.mktemp("tansu") / "tansu.log")
    address = broker.start()
    try:
        yield address
    finally:
        broker.stop()


@pytest.fixture
def migrated_database(database_server: DatabaseServer) -> Callable[[str], str]:
    """Return a factory of fresh, migrated databases, one per name."""

    def make(name: str) -> str:
        url = database_server.create_database(f"{name}_{uuid.uuid4().hex[:8]}")
        engine = create_db_engine(url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        return url

    return make


@pytest.fixture
def hub(migrated_database: Callable[[str], str], tmp_path: Path) -> Iterator[Hub]:
    """A hub wired to a fresh, migrated database (no broker needed)."""
    settings = Settings(database_url=migrated_database("hub"), data_dir=tmp_path)
    wired = bootstrap(settings)
    try:
        yield wired
    finally:
        wired.engine.dispose()


@pytest.fixture
def engine(hub: Hub) -> Engine:
    return hub.engine
