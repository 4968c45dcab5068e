"""SIGTERM mid-stream: the worker finishes its batch, commits, drains the relay and exits 0; batches isolate
a poisonous message."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from hub.bootstrap import Hub, create_db_engine
from hub.service.intake import InboundMessage
from hub.settings import Settings
from hub.streams import worker as worker_module
from hub.streams.worker import process_batch
from tests.integration.helpers import outcome_counts, rows
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

STREAM_LENGTH = 600


def _stream() -> list[tuple[bytes | None, bytes]]:
    messages: list[tuple[bytes | None, bytes]] = []
    for n in range(STREAM_LENGTH):
        ref = f"CRM-G{n:05d}"
        payload = crm_organisation(f"Graceful {n} Trading", emails=[f"g{n}@graceful.example"])
        messages.append((ref.encode(), encode(envelope("crm", ref, payload))))
    return messages


def test_sigterm_mid_stream_commits_what_was_applied_and_loses_nothing(
    database_server: Any, kafka_bootstrap: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        database_url=database_server.create_database(f"graceful_{run}"),
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"graceful{run}.",
        consumer_group=f"graceful-{run}",
        data_dir=tmp_path,
        broker_session_timeout=6,
        batch_size=50,
    )
    engine = create_db_engine(settings.database_url or "")
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    try:
        worker.start()
        publish_messages(settings, "crm", _stream())
        wait_until(lambda: processed_count(engine) >= 150, timeout=120, message=worker.log)

        asked = time.monotonic()
        assert worker.stop(timeout=settings.shutdown_grace_seconds + 10) == 0, worker.log()
        assert time.monotonic() - asked < settings.shutdown_grace_seconds
        assert processed_count(engine) < STREAM_LENGTH, "the stream ended before the SIGTERM"
        assert outbox_drained(engine), "the relay left committed events unpublished"

        worker.start()
        wait_until(
            lambda: processed_count(engine) >= STREAM_LENGTH and consumed_everything(settings),
            timeout=180,
            message=worker.log,
        )
        assert worker.stop() == 0, worker.log()
    finally:
        worker.stop()
    counts = outcome_counts(engine)
    assert counts == {"applied": STREAM_LENGTH}, "a message was redelivered or lost across the graceful stop"
    assert (
        rows(engine, "SELECT count(*) AS n FROM golden_record WHERE golden_id <> 'CASH'")[0].n
        == STREAM_LENGTH
    )
    engine.dispose()


def crm_messages(documents: list[dict[str, Any]]) -> list[InboundMessage]:
    """The documents as the CRM topic delivers them, at offsets 0, 1, 2, ..."""
    return [
        InboundMessage("source.crm.customer.v1", 0, n, d["source_record_id"].encode(), encode(d))
        for n, d in enumerate(documents)
    ]


def test_one_poisonous_message_in_a_batch_is_dead_lettered_alone(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents = [envelope("crm", f"P-{n}", crm_organisation(f"Batch {n} Ltd")) for n in range(5)]
    poisonous = documents[2]["message_id"]
    real_apply = worker_module.apply_message

    def apply_or_fail(uow: Any, message: InboundMessage, command: Any, source: str, ctx: Any) -> Any:
        if getattr(command, "message_id", None) == poisonous:
            raise RuntimeError("a bug this message hits")
        return real_apply(uow, message, command, source, ctx)

    monkeypatch.setattr(worker_module, "apply_message", apply_or_fail)
    messages = crm_messages(documents)
    outcomes = process_batch(hub, "crm", messages)

    assert outcomes == ["applied", "applied", "dead_lettered", "applied", "applied"]
    letter = rows(hub.engine, "SELECT error_code, message_id, errors FROM dead_letter")[0]
    assert (letter.error_code, letter.message_id) == ("invalid_payload", poisonous)
    assert "RuntimeError" in letter.errors[0]["message"]
    assert rows(hub.engine, "SELECT count(*) AS n FROM source_record")[0].n == 4


def test_a_write_the_database_refuses_after_its_message_dead_letters_that_message_alone(hub: Hub) -> None:
    """A message's writes go to PostgreSQL while the next message is worked out (`send_writes`); one that
    PostgreSQL refuses fails the batch at its next read, the batch is applied again message by message,
    and the connection goes back to the pool out of pipeline mode."""
    documents = [envelope("crm", f"W-{n}", crm_organisation(f"Refused {n} Ltd")) for n in range(5)]
    refused = documents[2]["message_id"]
    with hub.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE FUNCTION refuse_w2() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.cause->>'message_id' = '" + refused + "' THEN"
            " RAISE EXCEPTION 'a constraint this message breaks'; END IF; RETURN NEW; END $$"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse_w2 BEFORE INSERT ON golden_version"
            " FOR EACH ROW EXECUTE FUNCTION refuse_w2()"
        )
    messages = crm_messages(documents)

    assert process_batch(hub, "crm", messages) == [
        "applied",
        "applied",
        "dead_lettered",
        "applied",
        "applied",
    ]

    letter = rows(hub.engine, "SELECT message_id, errors FROM dead_letter")[0]
    assert letter.message_id == refused
    assert "a constraint this message breaks" in letter.errors[0]["message"]
    assert rows(hub.engine, "SELECT count(*) AS n FROM golden_version")[0].n == 4
    later = envelope("crm", "W-later", crm_organisation("Accepted Later Ltd"))
    assert process_batch(
        hub, "crm", [InboundMessage("source.crm.customer.v1", 0, 9, b"W-later", encode(later))]
    ) == ["applied"]
    with hub.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None and raw.pgconn.pipeline_status == 0  # not left in pipeline mode


def test_a_message_the_intake_fails_to_read_is_dead_lettered_and_its_batch_goes_on(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents = [envelope("crm", f"R-{n}", crm_organisation(f"Readable {n} Ltd")) for n in range(3)]
    unreadable = documents[1]["message_id"]
    real_read = worker_module.read_with_settings

    def read_or_fail(message: InboundMessage, **kwargs: Any) -> Any:
        if unreadable.encode() in message.value:
            raise ValueError("a reader bug this message hits")
        return real_read(message, **kwargs)

    monkeypatch.setattr(worker_module, "read_with_settings", read_or_fail)
    messages = crm_messages(documents)

    assert process_batch(hub, "crm", messages) == ["applied", "dead_lettered", "applied"]
    letter = rows(hub.engine, "SELECT error_code, errors FROM dead_letter")[0]
    assert letter.error_code == "invalid_payload"
    assert "a reader bug this message hits" in letter.errors[0]["message"]


def test_a_message_delivered_twice_within_one_batch_is_applied_once(hub: Hub) -> None:
    documents = [envelope("crm", f"T-{n}", crm_organisation(f"Twice {n} Ltd")) for n in range(2)]
    messages = [
        InboundMessage("source.crm.customer.v1", 0, n, d["source_record_id"].encode(), encode(d))
        for n, d in enumerate([*documents, documents[0]])
    ]

    assert process_batch(hub, "crm", messages) == ["applied", "applied", "duplicate"]
    assert rows(hub.engine, "SELECT count(*) AS n FROM processed_message")[0].n == 2
    assert rows(hub.engine, "SELECT count(*) AS n FROM golden_version")[0].n == 2


def test_a_batch_whose_database_connection_breaks_is_retried_whole_and_nothing_is_dead_lettered(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from sqlalchemy import text

    documents = [envelope("crm", f"C-{n}", crm_organisation(f"Cut {n} Ltd")) for n in range(4)]
    real_apply = worker_module.apply_message
    calls = {"n": 0}

    def apply_then_cut_the_connection(uow: Any, message: Any, command: Any, source: str, ctx: Any) -> Any:
        calls["n"] += 1
        outcome = real_apply(uow, message, command, source, ctx)
        if calls["n"] == 2:  # the database drops this transaction's connection mid-batch, once
            with hub.engine.connect() as other:
                pid = uow._raw.info.backend_pid
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return outcome

    monkeypatch.setattr(worker_module, "apply_message", apply_then_cut_the_connection)
    messages = crm_messages(documents)
    outcomes = asyncio.run(worker_module.process_with_retry(hub, "crm", messages))

    assert outcomes == ["applied"] * 4
    assert calls["n"] > 4  # the broken batch was applied again, whole
    assert rows(hub.engine, "SELECT count(*) AS n FROM dead_letter")[0].n == 0
    assert rows(hub.engine, "SELECT count(*) AS n FROM source_record")[0].n == 4
    assert rows(hub.engine, "SELECT count(*) AS n FROM processed_message")[0].n == 4
