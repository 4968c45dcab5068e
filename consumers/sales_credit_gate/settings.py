"""The sales credit gate's configuration: one `GATE_` environment variable per field."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from consumers.broker import CREDIT_STATUS_TOPIC, CUSTOMER_TOPIC, resolve_bootstrap


class GateSettings(BaseSettings):
    """Configure the sales credit gate; each field is a `GATE_` variable (e.g. `GATE_HTTP_PORT`)."""

    model_config = SettingsConfigDict(env_prefix="GATE_", extra="ignore")

    kafka_bootstrap_servers: str | None = Field(
        None,
        description="Kafka bootstrap servers; unset: the broker of a running `hub run` (.hub/runtime.json), "
        "else 127.0.0.1:9092.",
    )
    http_host: str = Field("127.0.0.1", description="Where the HTTP endpoint listens.")
    http_port: int = Field(8090, description="The HTTP endpoint's port.")
    state_dir: Path = Field(Path(".gate"), description="Where the SQLite projection lives.")
    group_id: str = Field(
        "sales-credit-gate", description="The Kafka consumer group; offsets are kept there."
    )
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
        """Return the SQLite file of the projection."""
        return self.state_dir / "credit-gate.sqlite3"

    @property
    def credit_status_topic(self) -> str:
        """Return the credit-status topic's name."""
        return f"{self.topic_prefix}{CREDIT_STATUS_TOPIC}"

    @property
    def customer_topic(self) -> str:
        """Return the canonical customer topic's name."""
        return f"{self.topic_prefix}{CUSTOMER_TOPIC}"
