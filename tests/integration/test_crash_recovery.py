"""SIGKILL the worker mid-stream and restart it: every message is applied exactly once."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from hub.bootstrap import create_db_engine
from hub.settings import Settings
from hub.streams.kafka import ensure_topics
from tests.messages import crm_organisation, encode, envelope
from tests.running import (
    WorkerProcess,
    consumed_everything,
    outbox_drained,
    processed_count,
    publish_messages,
    wait_until,
)

pytestmark = pytest.mark.integration

STREAM_LENGTH = 2000


def _word(n: int) -> str:
    """Return a made-up word for n, so that no two customers of the stream look alike."""
    rng = random.Random(n)
    return "".join(rng.choice("bcdfghjklmnprstvz") + rng.choice("aeiou") for _ in range(3)).capitalize()


def _stream() -> list[tuple[bytes | None, bytes]]:
    """2,000 messages: new customers, updates, redeliveries, stale updates and a few bad ones."""
    rng = random.Random(7)
    messages: list[tuple[bytes | None, bytes]] = []
    minutes: dict[str, int] = {}
    while len(messages) < STREAM_LENGTH:
        roll = rng.random()
        if roll < 0.45 or not minutes:
            ref = f"CRM-K{len(minutes):05d}"
            minutes[ref] = 0
        else:
            ref = rng.choice(sorted(minutes))
            minutes[ref] += 1
        if roll > 0.97:
            messages.append((ref.encode(), b"{broken"))
            continue
        if roll > 0.94 and messages:
            messages.append(messages[rng.randrange(len(messages))])  # a redelivery
            continue
        at = minutes[ref] if roll <= 0.91 else minutes[ref] - 5  # some stale updates
        number = int(ref[5:])
        payload = crm_organisation(
            f"{_word(number)} {_word(number * 7 + 3)} Ltd",
            emails=[f"v{minutes[ref]}@{ref.lower()}.example"],
            status="active",
            addresses=[
                {
                    "kind": "billing",
                    "line1": f"{number} {_word(number * 3 + 1)} Road",
                    "city": "Aarhus",
                    "postal_code": f"{8000 + number}",
                    "country": "DK",
                }
            ],
            contacts=[{"name": f"{_word(number + 11)} {_word(number + 5)}", "primary": True}],
        )
        document = envelope(
            "crm", ref, payload, minutes=at, message_id=str(uuid.UUID(int=rng.getrandbits(128)))
        )
        messages.append((ref.encode(), encode(document)))
    return messages


def _snapshot(engine: Engine) -> dict[str, Any]:
    """What must be equal between runs, with golden ids replaced by their source references."""
    with engine.connect() as conn:
        golden = conn.execute(
            text(
                "SELECT golden_id, state, version, customer, source_refs FROM golden_record "
                "WHERE golden_id <> 'CASH'"
            )
        ).all()
        names = {g.golden_id: json.dumps(sorted(map(json.dumps, g.source_refs))) for g in golden}
        outbox = conn.execute(text("SELECT topic, golden_id, value FROM outbox ORDER BY id")).all()
        outcomes = dict(conn.execute(text("SELECT outcome, count FROM message_outcome")).all())
        processed = conn.execute(text("SELECT count(*) FROM processed_message")).scalar_one()
        processed_ids = {
            (r.message_id, r.outcome)
            for r in conn.execute(text("SELECT message_id, outcome FROM processed_message"))
        }
    events = []
    letters = []
    statuses = []
    for row in outbox:
        value = json.loads(row.value)
        if row.topic.endswith("mdm.customer.v1"):
            events.append(
                (names[row.golden_id], value["version"], value["event_type"], json.dumps(value["customer"]))
            )
        elif row.topic.endswith("mdm.deadletter.v1"):
            letters.append((value["error_code"], value["value_b64"]))
        else:
            statuses.append((names[row.golden_id], value["version"], json.dumps(value["hold_reasons"])))
    return {
        "golden": sorted((names[g.golden_id], g.state, g.version, json.dumps(g.customer)) for g in golden),
        "events": sorted(events),
        "dead_letters": sorted(letters),
        "credit_statuses": sorted(statuses),
        "outcomes": outcomes,
        "processed": processed,
        "processed_ids": processed_ids,
    }


def _settings(database_server: Any, bootstrap: str, data_dir: Path, name: str) -> Settings:
    run = uuid.uuid4().hex[:8]
    return Settings(
        database_url=database_server.create_database(f"{name}_{run}"),
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=f"{name}{run}.",
        consumer_group=f"{name}-{run}",
        data_dir=data_dir,
        broker_session_timeout=6,
    )


def _run(
    settings: Settings, stream: list[tuple[bytes | None, bytes]], *, kill_after: int | None
) -> dict[str, Any]:
    engine = create_db_engine(settings.database_url or "")
    worker = WorkerProcess(settings, Path(settings.data_dir) / "worker.log")
    try:
        asyncio.run(ensure_topics(settings))
        publish_messages(settings, "crm", stream)
        worker.start()
        if kill_after is not None:
            wait_until(lambda: processed_count(engine) >= kill_after, timeout=120, message=worker.log)
            worker.kill()
            assert processed_count(engine) < len(stream), "the worker finished before it could be killed"
            worker.start()
        wait_until(
            lambda: consumed_everything(settings) and outbox_drained(engine), timeout=300, message=worker.log
        )
        assert worker.stop() == 0, worker.log()
        return _snapshot(engine)
    finally:
        worker.stop()
        engine.dispose()


def test_a_worker_killed_mid_stream_and_restarted_applies_every_message_exactly_once(
    database_server: Any, kafka_bootstrap: str, tmp_path: Path
) -> None:
    stream = _stream()
    (tmp_path / "calm").mkdir()
    (tmp_path / "killed").mkdir()

    calm = _run(
        _settings(database_server, kafka_bootstrap, tmp_path / "calm", "calm"), stream, kill_after=None
    )
    killed = _run(
        _settings(database_server, kafka_bootstrap, tmp_path / "killed", "killed"), stream, kill_after=700
    )

    assert calm["outcomes"].get("duplicate", 0) > 0 and calm["outcomes"].get("stale", 0) > 0
    only_calm = calm["processed_ids"] - killed["processed_ids"]
    only_killed = killed["processed_ids"] - calm["processed_ids"]
    assert (only_calm, only_killed) == (set(), set()), "the runs applied different messages"
    assert killed["golden"] == calm["golden"]
    assert killed["events"] == calm["events"]
    assert killed["processed"] == calm["processed"]
    assert killed["dead_letters"] == calm["dead_letters"]
    assert killed["credit_statuses"] == calm["credit_statuses"]
    applied = {k: v for k, v in killed["outcomes"].items() if k != "duplicate"}
    assert applied == {k: v for k, v in calm["outcomes"].items() if k != "duplicate"}
