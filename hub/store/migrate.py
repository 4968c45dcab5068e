"""Apply the Alembic migrations; `hub migrate` and `hub run` both come through here."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    """Return an Alembic configuration bound to the hub's migrations and this engine's URL."""
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def upgrade(engine: Engine) -> None:
    """Bring the database schema to the newest revision; idempotent."""
    with engine.begin() as conn:
        # Two processes starting at once must not both create the schema.
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
        config = alembic_config(engine)
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
