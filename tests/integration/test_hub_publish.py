"""`hub publish` against the real broker: messages land keyed on the hub's topic; a typo creates nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from hub.cli import main
from hub.settings import Settings
from hub.streams.kafka import ensure_topics, existing_topics
from tests.messages import crm_organisation, envelope
from tests.running import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
def broker_settings(kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    prefix = f"pub{uuid.uuid4().hex[:8]}."
    monkeypatch.setenv("HUB_KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("HUB_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "data"))
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=prefix)
    asyncio.run(ensure_topics(settings))
    return settings


def test_hub_publish_sends_each_line_keyed_by_its_source_record_id(
    broker_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    documents = [
        envelope("crm", "CRM-P1", crm_organisation("Orchard Trading Pte Ltd")),
        envelope("crm", "CRM-P2", crm_organisation("Jalan Besar Hardware Sdn Bhd")),
    ]
    file = tmp_path / "two.jsonl"
    file.write_text("".join(json.dumps(d) + "\n" for d in documents))

    assert main(["publish", str(file), "--topic", "crm"]) == 0

    topic = broker_settings.topic("source.crm.customer.v1")
    assert f"published 2 messages to {topic}" in capsys.readouterr().out
    found = read_topic(broker_settings.kafka_bootstrap_servers or "", topic)
    assert sorted((m["key"], m["value"]["message_id"]) for m in found) == sorted(
        (d["source_record_id"].encode(), d["message_id"]) for d in documents
    )


def test_hub_publish_to_a_topic_the_broker_lacks_exits_2_and_creates_no_topic(
    broker_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "one.jsonl"
    file.write_text(json.dumps(envelope("crm", "CRM-P3", crm_organisation("Novo Handel A/S"))) + "\n")
    typo = broker_settings.topic("source.crm.customers.v1")

    assert main(["publish", str(file), "--topic", typo]) == 2

    err = capsys.readouterr().err
    assert f"the broker has no topic {typo!r}" in err
    assert broker_settings.topic("source.crm.customer.v1") in err
    assert typo not in asyncio.run(existing_topics(broker_settings))
