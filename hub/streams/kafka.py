"""Kafka plumbing shared by the worker, the relay and the CLI: client options, topic creation, producer."""

from __future__ import annotations

import logging
import ssl
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from hub.settings import (
    CREDIT_STATUS_TOPIC,
    CUSTOMER_TOPIC,
    DEADLETTER_TOPIC,
    SOURCE_TOPICS,
    Settings,
)

log = logging.getLogger(__name__)

COMPACTED = (CUSTOMER_TOPIC, CREDIT_STATUS_TOPIC)


def client_options(settings: Settings) -> dict[str, Any]:
    """Return aiokafka connection options, including TLS and SASL for a production cluster."""
    if settings.kafka_bootstrap_servers is None:
        raise RuntimeError("no broker: set HUB_KAFKA_BOOTSTRAP_SERVERS or start the hub with `hub run`")
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
    if settings.kafka_sasl_mechanism:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password
    return options


def all_topics(settings: Settings) -> list[str]:
    """Return every topic of SPEC 3, prefixed."""
    names = [*SOURCE_TOPICS.values(), CUSTOMER_TOPIC, CREDIT_STATUS_TOPIC, DEADLETTER_TOPIC]
    return [settings.topic(n) for n in names]


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the topics that are missing (the `mdm.customer*` ones compacted); return those created."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = []
        for name in [*SOURCE_TOPICS.values(), CUSTOMER_TOPIC, CREDIT_STATUS_TOPIC, DEADLETTER_TOPIC]:
            topic = settings.topic(name)
            if topic in existing:
                continue
            configs = {"cleanup.policy": "compact"} if name in COMPACTED else {}
            wanted.append(
                NewTopic(
                    name=topic,
                    num_partitions=settings.topic_partitions,
                    replication_factor=settings.topic_replication_factor,
                    topic_configs=configs,
                )
            )
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                log.info("topics were created concurrently by another process")
        return [t.name for t in wanted]
    finally:
        await admin.close()


async def existing_topics(settings: Settings) -> set[str]:
    """Return the topics the broker has, without creating any."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    try:
        await admin.start()
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def consumer_lag(settings: Settings) -> dict[tuple[str, int], int]:
    """Per source-topic partition, how many messages the worker's consumer group has not committed yet.

    A partition the group never committed counts from its first offset: all of it is still to do.
    """
    options = client_options(settings)
    consumer = AIOKafkaConsumer(**options, enable_auto_commit=False)
    admin = AIOKafkaAdminClient(**options)
    try:
        await consumer.start()
        await admin.start()
        existing = await consumer.topics()
        partitions = [
            TopicPartition(topic, partition)
            for topic in (settings.topic(t) for t in SOURCE_TOPICS.values())
            if topic in existing
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return {}
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(settings.consumer_group, partitions=partitions)
        lag = {}
        for tp in partitions:
            done = committed.get(tp)
            position = done.offset if done is not None and done.offset >= 0 else starts[tp]
            lag[(tp.topic, tp.partition)] = max(0, ends[tp] - position)
        return lag
    finally:
        await admin.close()
        await consumer.stop()


def create_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """Return a producer that waits for every replica; not idempotent (Tansu rejects InitProducerId)."""
    options = {**client_options(settings), "acks": "all", "linger_ms": 5, **overrides}
    return AIOKafkaProducer(**options)
