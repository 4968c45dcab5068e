"""The Alembic migrations create exactly the tables the code declares, and can run twice."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from hub.bootstrap import Hub
from hub.store.migrate import alembic_config, upgrade
from hub.store.tables import metadata
from tests.integration.helpers import rows


def test_the_migrated_schema_matches_the_declared_tables(hub: Hub) -> None:
    with hub.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_migrating_an_up_to_date_database_changes_nothing(hub: Hub) -> None:
    head = ScriptDirectory.from_config(alembic_config(hub.engine)).get_current_head()
    upgrade(hub.engine)
    assert rows(hub.engine, "SELECT version_num FROM alembic_version")[0].version_num == head


def test_the_walk_in_customer_exists_from_the_first_migration(hub: Hub) -> None:
    assert rows(hub.engine, "SELECT golden_id, state FROM golden_record")[0] == ("CASH", "active")
