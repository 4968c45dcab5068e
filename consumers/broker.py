"""Kafka plumbing shared by the reference consumers: where the broker is, and the apply-then-commit loop."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import CommitFailedError

log = logging.getLogger(__name__)

DEFAULT_BOOTSTRAP_SERVERS = "127.0.0.1:9092"
CUSTOMER_TOPIC = "mdm.customer.v1"
CREDIT_STATUS_TOPIC = "mdm.customer-credit-status.v1"
AR_EXPOSURE_TOPIC = "source.ar.exposure.v1"


def hub_runtime_file() -> Path:
    """Return where a running `hub run` writes its servers' addresses (HUB_DATA_DIR, default .hub)."""
    return Path(os.environ.get("HUB_DATA_DIR") or ".hub") / "runtime.json"


def broker_from_hub_runtime(path: Path | None = None) -> str | None:
    """Return the embedded broker's address from a running `hub run`, if there is one."""
    path = path or hub_runtime_file()
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    address = document.get("kafka_bootstrap_servers") if isinstance(document, dict) else None
    return address if isinstance(address, str) and address else None


def resolve_bootstrap(configured: str | None) -> str:
    """Pick the broker: the one configured, else the one `hub run` started, else the Kafka default."""
    return configured or broker_from_hub_runtime() or DEFAULT_BOOTSTRAP_SERVERS


def group_consumer(
    topics: Sequence[str], *, bootstrap_servers: str, group_id: str, session_timeout_ms: int
) -> AIOKafkaConsumer:
    """Return a group consumer that commits only when told to, and starts from the earliest offset."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        # A fresh state directory with no committed offsets must see every golden id, so read from the start.
        auto_offset_reset="earliest",
        # Tansu holds a JoinGroup for half the session timeout (SPEC 10): a short one starts us sooner.
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(100, session_timeout_ms // 3),
        # A topic the hub creates after we subscribed is noticed within this time, not the default 5 minutes.
        metadata_max_age_ms=10_000,
        fetch_max_wait_ms=100,
    )


def plain_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    """Return a producer that waits for every replica; not idempotent, which Tansu rejects (SPEC 10)."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5)


async def apply_then_commit(
    consumer: AIOKafkaConsumer,
    apply: Callable[[list[Any]], None],
    stop: asyncio.Event,
    *,
    after_batch: Callable[[], Awaitable[None]] | None = None,
    max_records: int = 500,
) -> None:
    """Apply each fetched batch (the callback commits its own database transaction), then commit offsets.

    The order is the delivery guarantee: offsets are committed only after the state that reflects them is
    durable. A crash in between redelivers the batch, and the version checks of the projection drop it, so
    every event takes effect exactly once.
    """
    while not stop.is_set():
        batch: dict[Any, list[Any]] = await consumer.getmany(timeout_ms=500, max_records=max_records)
        if batch:
            apply([record for records in batch.values() for record in records])
            try:
                await consumer.commit({tp: records[-1].offset + 1 for tp, records in batch.items()})
            except CommitFailedError:
                # A rebalance took the partitions away: their new owner resumes from the last commit and
                # the version checks drop what this batch already applied.
                log.warning("offsets not committed after a rebalance; the batch will be redelivered")
        if after_batch is not None:
            await after_batch()


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep for a while, waking early when asked to stop."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return
