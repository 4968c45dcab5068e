"""AR sync's configuration: one `AR_` environment variable per field."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from consumers.broker import AR_EXPOSURE_TOPIC, CUSTOMER_TOPIC, resolve_bootstrap


class ArSettings(BaseSettings):
    """Configure AR sync; each field is an `AR_` variable (e.g. `AR_STATE_DIR`)."""

    model_config = SettingsConfigDict(env_prefix="AR_", extra="ignore")

    kafka_bootstrap_servers: str | None = Field(
        None,
        description="Kafka bootstrap servers; unset: the broker of a running `hub run` (.hub/runtime.json), "
        "else 127.0.0.1:9092.",
    )
    state_dir: Path = Field(Path(".ar"), description="Where the SQLite AR database lives.")
    group_id: str = Field("ar-sync", description="The Kafka consumer group; offsets are kept there.")
    topic_prefix: str = Field("", description="Prepended to the topic names, like HUB_TOPIC_PREFIX.")
    session_timeout_ms: int = Field(
        6000, ge=1000, description="Kafka group session timeout; Tansu holds each join for half of it."
    )
    retry_seconds: float = Field(5.0, gt=0, description="Pause before reconnecting to an unreachable broker.")

    @property
    def bootstrap_servers(self) -> str:
        """Return the broker to use, falling back to `hub run`'s and then to the Kafka default."""
        return resolve_bootstrap(self.kafka_bootstrap_servers)

    @property
    def database(self) -> Path:
        """Return the SQLite file of the AR database."""
        return self.state_dir / "ar.sqlite3"

    @property
    def customer_topic(self) -> str:
        """Return the canonical customer topic's name."""
        return f"{self.topic_prefix}{CUSTOMER_TOPIC}"

    @property
    def exposure_topic(self) -> str:
        """Return the AR exposure topic's name."""
        return f"{self.topic_prefix}{AR_EXPOSURE_TOPIC}"
