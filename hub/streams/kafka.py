"""Kafka plumbing shared by the worker, the relay and the CLI: client options, topic creation, producer."""

from __future__ import annotations

import logging
import ssl
from typing import Any

from aiokafka import AIOKafkaProducer
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


def create_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """Return a producer that waits for every replica; not idempotent (Tansu rejects InitProducerId)."""
    options = {**client_options(settings), "acks": "all", "linger_ms": 5, **overrides}
    return AIOKafkaProducer(**options)
