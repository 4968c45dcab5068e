"""The composition root: the one place where settings, database, rules and topics are wired together."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine

from hub.domain.scoring import MatchModel
from hub.domain.survivorship import SurvivorshipRules
from hub.service.golden import PublishContext
from hub.settings import CREDIT_STATUS_TOPIC, CUSTOMER_TOPIC, DEADLETTER_TOPIC, Settings

DEFAULT_SURVIVORSHIP_FILE = Path(__file__).parent / "survivorship.toml"
DEFAULT_MATCH_MODEL_FILE = Path(__file__).parent / "match_model.toml"
RUNTIME_FILE = "runtime.json"


def load_rules(path: Path | None) -> SurvivorshipRules:
    """Read the survivorship rules from a TOML file (the shipped default when None)."""
    with (path or DEFAULT_SURVIVORSHIP_FILE).open("rb") as handle:
        return SurvivorshipRules.from_mapping(tomllib.load(handle))


def runtime_file(settings: Settings) -> Path:
    """Where `hub run` tells other `hub` commands the addresses of its embedded servers."""
    return settings.data_dir / RUNTIME_FILE


def read_runtime(settings: Settings) -> dict[str, Any]:
    """Return the embedded servers' addresses written by a running `hub run`, or nothing."""
    path = runtime_file(settings)
    if not path.exists():
        return {}
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def resolve_settings(settings: Settings) -> Settings:
    """Fill unset server URLs from a running `hub run`, so `hub publish` and friends find its servers."""
    runtime = read_runtime(settings)
    updates: dict[str, Any] = {}
    if settings.kafka_bootstrap_servers is None and runtime.get("kafka_bootstrap_servers"):
        updates["kafka_bootstrap_servers"] = runtime["kafka_bootstrap_servers"]
    if settings.database_url is None and runtime.get("database_url"):
        updates["database_url"] = runtime["database_url"]
    return settings.model_copy(update=updates) if updates else settings


def load_model(settings: Settings) -> MatchModel:
    """Read the match model, with the thresholds the settings override."""
    with (settings.match_model_file or DEFAULT_MATCH_MODEL_FILE).open("rb") as handle:
        model = MatchModel.from_mapping(tomllib.load(handle))
    return replace(
        model,
        link_threshold=settings.match_link_threshold or model.link_threshold,
        review_threshold=settings.match_review_threshold or model.review_threshold,
    )


@dataclass
class Hub:
    """Everything a process of the hub needs, built once."""

    settings: Settings
    engine: Engine
    rules: SurvivorshipRules
    model: MatchModel

    def context(self, now: datetime | None = None) -> PublishContext:
        """Return the publishing context of a use case, stamped with the current time."""
        return PublishContext(
            customer_topic=self.settings.topic(CUSTOMER_TOPIC),
            deadletter_topic=self.settings.topic(DEADLETTER_TOPIC),
            rules=self.rules,
            model=self.model,
            now=now or datetime.now(UTC),
            credit_topic=self.settings.topic(CREDIT_STATUS_TOPIC),
            approval_thresholds=self.settings.approval_thresholds,
        )


def create_db_engine(url: str) -> Engine:
    """Create the SQLAlchemy engine; pre-ping so a restarted database is survived."""
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def bootstrap(settings: Settings, *, engine: Engine | None = None) -> Hub:
    """Wire the hub from settings whose server URLs are known."""
    if engine is None:
        if settings.database_url is None:
            raise RuntimeError("no database: set HUB_DATABASE_URL or start the hub with `hub run`")
        engine = create_db_engine(settings.database_url)
    return Hub(
        settings=settings,
        engine=engine,
        rules=load_rules(settings.survivorship_file),
        model=load_model(settings),
    )
