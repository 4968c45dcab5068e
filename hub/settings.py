"""Every setting of the hub, read from `HUB_` environment variables; defaults select the embedded servers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from contracts.codes import CURRENCIES

SOURCE_TOPICS: dict[str, str] = {
    "crm": "source.crm.customer.v1",
    "pos": "source.pos.customer.v1",
    "ecommerce": "source.ecommerce.customer.v1",
    "ar": "source.ar.exposure.v1",
}
CUSTOMER_TOPIC = "mdm.customer.v1"
CREDIT_STATUS_TOPIC = "mdm.customer-credit-status.v1"
DEADLETTER_TOPIC = "mdm.deadletter.v1"


class Settings(BaseSettings):
    """The hub's configuration; each field is one `HUB_` variable, documented in the README."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore")

    kafka_bootstrap_servers: str | None = Field(
        None, description="Kafka bootstrap servers; unset: start the embedded broker (Tansu)."
    )
    kafka_security_protocol: str = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, for a production cluster."
    )
    kafka_sasl_mechanism: str | None = Field(None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.")
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: str | None = Field(None, description="SASL password.")
    kafka_ssl_cafile: str | None = Field(None, description="CA bundle that signs the brokers' certificates.")
    database_url: str | None = Field(
        None,
        description="PostgreSQL URL (postgresql:// or postgresql+psycopg://); unset: start the embedded "
        "PostgreSQL with its data under HUB_DATA_DIR.",
    )
    data_dir: Path = Field(Path(".hub"), description="Where the embedded servers keep their data.")
    topic_prefix: str = Field("", description="Prepended to every topic name.")
    topic_partitions: int = Field(6, ge=1, description="Partitions of a topic the hub creates.")
    topic_replication_factor: int = Field(
        1, ge=1, description="Replication factor of a topic the hub creates."
    )
    consumer_group: str = Field("customer-master-hub", description="The workers' Kafka consumer group.")
    api_host: str = Field("127.0.0.1", description="Where the API listens.")
    api_port: int = Field(8000, description="The API's port.")
    api_tokens: str = Field(
        "", description="Comma-separated name:token=role entries (roles: viewer, steward, admin)."
    )
    match_link_threshold: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Match probability at or above which a record links; unset: the model file's.",
    )
    match_review_threshold: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Match probability at or above which a review opens; unset: the model file's.",
    )
    match_model_file: Path | None = Field(
        None,
        description="The match model (TOML: prior, m and u per level, thresholds); unset: the shipped one.",
    )
    survivorship_file: Path | None = Field(
        None, description="Survivorship rules (TOML); unset: the default file that ships with the hub."
    )
    credit_approval_thresholds: str = Field(
        "",
        description="Per currency, the credit-limit raise that needs a second approver: MYR=50000,SGD=20000.",
    )
    max_clock_skew: timedelta = Field(
        timedelta(hours=1),
        description="How far in the future occurred_at may lie before a message is dead-lettered "
        "(seconds or ISO 8601 duration).",
    )
    processed_retention_days: int = Field(30, description="Days processed message ids are kept.")
    outbox_retention_days: int = Field(7, description="Days published outbox rows are kept.")
    max_message_bytes: int = Field(
        1_000_000, description="Larger inbound messages are dead-lettered as payload_too_large."
    )
    broker_session_timeout: float = Field(
        10.0, description="Kafka consumer session timeout in seconds (group joins wait half of it on Tansu)."
    )
    consumer_fetch_max_wait_ms: int = Field(
        20,
        ge=1,
        le=10000,
        description="Longest the worker's consumer waits on an empty fetch (Faust's own 1500 ms is the "
        "hub's latency floor).",
    )
    relay_poll_interval: float = Field(0.05, description="Seconds between outbox polls when it is empty.")
    batch_size: int = Field(
        100, ge=1, le=10000, description="Messages the worker applies per database transaction."
    )
    batch_wait_ms: int = Field(
        20,
        ge=1,
        le=10000,
        description="Longest a batch waits to fill up before it is applied as it is: latency bought for "
        "fewer, larger transactions when messages trickle in.",
    )
    shutdown_grace_seconds: float = Field(
        30.0,
        gt=0,
        description="On SIGTERM, seconds the worker may take to finish its batch and drain the relay.",
    )
    log_level: str = Field("INFO", description="Log level of the hub's processes.")

    @field_validator("credit_approval_thresholds")
    @classmethod
    def _thresholds(cls, value: str) -> str:
        for entry in filter(None, (e.strip() for e in value.split(","))):
            currency, sep, amount = entry.partition("=")
            try:
                ok = bool(sep) and Decimal(amount.strip()) >= 0
            except ArithmeticError:
                ok = False
            if not ok:
                raise ValueError(f"{entry!r} must be CURRENCY=amount, such as MYR=50000")
            if currency.strip().upper() not in CURRENCIES:
                raise ValueError(f"{entry!r}: {currency.strip()!r} is not an ISO 4217 currency code")
        return value

    @field_validator("max_clock_skew", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        """Read a plain number as seconds (`7200`), as the README promises, besides ISO 8601 (`PT2H`)."""
        if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
            return float(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _psycopg_driver(cls, url: str | None) -> str | None:
        """Accept postgresql:// and mean psycopg 3 by it, as the SPEC promises."""
        if url is None or url == "":
            return None
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                url = "postgresql+psycopg://" + url[len(prefix) :]
        try:
            make_url(url)
        except (ArgumentError, ValueError) as error:
            raise ValueError(f"is not a URL: {error}") from error
        if not url.startswith("postgresql+psycopg://"):
            raise ValueError("must be a PostgreSQL URL: postgresql://USER:PASSWORD@HOST:5432/DATABASE")
        return url

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        """Treat an empty variable as unset, so `HUB_KAFKA_BOOTSTRAP_SERVERS=` selects the embedded broker."""
        return value or None

    def topic(self, name: str) -> str:
        """Return a topic's configured name."""
        return f"{self.topic_prefix}{name}"

    @property
    def approval_thresholds(self) -> dict[str, Decimal]:
        """Parse HUB_CREDIT_APPROVAL_THRESHOLDS (`MYR=50000,SGD=20000`) into amounts per currency."""
        thresholds: dict[str, Decimal] = {}
        for entry in filter(None, (e.strip() for e in self.credit_approval_thresholds.split(","))):
            currency, _, amount = entry.partition("=")
            thresholds[currency.strip().upper()] = Decimal(amount.strip())
        return thresholds

    @property
    def source_topics(self) -> dict[str, str]:
        """Return the inbound topic of each source, prefixed."""
        return {source: self.topic(name) for source, name in SOURCE_TOPICS.items()}
