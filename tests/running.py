"""A real `hub worker` process for end-to-end tests, and readers of the topics it publishes to."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import Engine, text

from hub.bootstrap import create_db_engine
from hub.settings import Settings
from hub.store.migrate import upgrade
from hub.streams.kafka import ensure_topics
from hub.streams.publish import publish


@dataclass
class WorkerProcess:
    """Runs `python -m hub worker` with its own database, topic prefix and consumer group."""

    settings: Settings
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        """Start the worker; schema and topics are made first, as `hub migrate` would, so tests may begin."""
        engine = create_db_engine(self.settings.database_url or "")
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        asyncio.run(ensure_topics(self.settings))
        env = dict(os.environ)
        env.update(
            {
                "HUB_DATABASE_URL": self.settings.database_url or "",
                "HUB_KAFKA_BOOTSTRAP_SERVERS": self.settings.kafka_bootstrap_servers or "",
                "HUB_TOPIC_PREFIX": self.settings.topic_prefix,
                "HUB_CONSUMER_GROUP": self.settings.consumer_group,
                "HUB_DATA_DIR": str(self.settings.data_dir),
                "HUB_BROKER_SESSION_TIMEOUT": str(self.settings.broker_session_timeout),
                "HUB_BATCH_SIZE": str(self.settings.batch_size),
                "HUB_LOG_LEVEL": "INFO",
            }
        )
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def kill(self) -> None:
        """SIGKILL: no chance to commit offsets, flush or say goodbye."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait; return the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log(self) -> str:
        """Return the worker's log, for assertion messages."""
        return self.log_path.read_text(errors="replace")[-5000:]


def publish_messages(settings: Settings, source: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    """Publish raw messages to a source's topic."""
    asyncio.run(publish(settings, settings.source_topics[source], messages))


def wait_until(
    condition: Callable[[], bool], timeout: float, message: Callable[[], str] = lambda: ""
) -> None:
    """Poll a condition until it holds; fail with a useful message when it does not in time."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s. {message()}")
        time.sleep(0.1)


def processed_count(engine: Engine) -> int:
    """Return how many inbound messages reached an outcome."""
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(sum(count), 0) FROM message_outcome")).scalar_one())


def outbox_drained(engine: Engine) -> bool:
    """Tell whether the relay published every committed event."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL")).scalar_one() == 0


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Return a topic's partitions, loading metadata first: a fresh client may not have it yet."""
    known = consumer.partitions_for_topic(topic)
    if not known:
        await consumer.topics()  # loads the cluster's metadata
        known = consumer.partitions_for_topic(topic)
    return [TopicPartition(topic, p) for p in sorted(known or set())]


async def true_end_offsets(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """Return each partition's real end offset.

    This Tansu reports a partition's end as the base offset of its last producer batch + 1, short of
    the real end when that batch held several messages; so read on from there until nothing comes.
    """
    reported = await consumer.end_offsets(partitions)
    consumer.assign(partitions)
    ends = dict(reported)
    for tp in partitions:
        if reported[tp] > 0:
            consumer.seek(tp, reported[tp] - 1)
    while True:
        batch = await consumer.getmany(*partitions, timeout_ms=300)
        if not batch:
            return ends
        for tp, records in batch.items():
            ends[tp] = max(ends[tp], records[-1].offset + 1)


def consumed_everything(settings: Settings, source: str = "crm") -> bool:
    """Tell whether the worker's group committed offsets at the end of every partition of a source topic.

    Offsets are committed only after the database transaction, so this is the signal that every message
    was applied; counting outcomes is not, since redeliveries after a crash add duplicate outcomes.
    """

    async def check() -> bool:
        topic = settings.source_topics[source]
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False
        )
        await admin.start()
        await consumer.start()
        try:
            partitions = await partitions_of(consumer, topic)
            if not partitions:
                return False
            ends = await true_end_offsets(consumer, partitions)
            committed = await admin.list_consumer_group_offsets(
                settings.consumer_group, partitions=partitions
            )
            return all(tp in committed and committed[tp].offset >= ends[tp] for tp in partitions)
        finally:
            await consumer.stop()
            await admin.close()

    return asyncio.run(check())


def read_topic(bootstrap: str, topic: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Read every message on a topic from the beginning (no consumer group), as JSON with its key."""

    async def read() -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = await partitions_of(consumer, topic)
            ends = await true_end_offsets(consumer, partitions)
            await consumer.seek_to_beginning(*partitions)
            found: list[dict[str, Any]] = []
            deadline = time.monotonic() + timeout

            async def behind() -> bool:
                return any([await consumer.position(tp) < ends[tp] for tp in partitions])

            while await behind():
                if time.monotonic() > deadline:
                    raise AssertionError(f"could not read {topic} to its end within {timeout}s")
                batch = await consumer.getmany(timeout_ms=200)
                for tp, records in batch.items():
                    for r in records:
                        found.append(
                            {
                                "key": r.key,
                                "partition": tp.partition,
                                "offset": r.offset,
                                "value": json.loads(r.value),
                            }
                        )
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())
