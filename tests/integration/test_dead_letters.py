"""Every class of bad input is dead-lettered with the SPEC's code and field paths, and loses nothing else."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from hub.bootstrap import Hub
from hub.service.source_changes import DEAD_LETTER_VALUE_BYTES
from tests.integration.helpers import customer_events, dead_letter_events, deliver, outcome_counts, rows
from tests.messages import crm_organisation, encode, envelope

FUTURE = datetime.now(UTC) + timedelta(days=2)


def _without(document: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != field}


BAD_INPUT = [
    ("bytes that are not UTF-8", b'\xff\xfe{"x": 1}', "not_utf8", None),
    ("text that is not JSON", b"{not json", "not_json", "$"),
    ("a JSON array instead of an object", encode([1, 2]), "invalid_envelope", None),
    (
        "an envelope without message_id",
        encode(_without(envelope("crm", "B-1", crm_organisation("X")), "message_id")),
        "invalid_envelope",
        "message_id",
    ),
    (
        "an occurred_at without a time zone",
        encode({**envelope("crm", "B-2", crm_organisation("X")), "occurred_at": "2026-11-20T09:00:00"}),
        "invalid_envelope",
        "occurred_at",
    ),
    (
        "a POS envelope on the CRM topic",
        encode(envelope("pos", "B-3", {"store_id": "S1"})),
        "wrong_source",
        "source",
    ),
    (
        "a credit limit sent as a float",
        encode(envelope("crm", "B-4", crm_organisation("X", credit={"limit": 100.5, "currency": "SGD"}))),
        "invalid_payload",
        "payload.credit.limit",
    ),
    (
        "a CRM payload without party_type",
        encode(envelope("crm", "B-5", _without(crm_organisation("X"), "party_type"))),
        "invalid_payload",
        "payload.party_type",
    ),
    (
        "an occurred_at two days ahead",
        encode(envelope("crm", "B-6", crm_organisation("X"), occurred_at=FUTURE)),
        "occurred_in_future",
        "occurred_at",
    ),
    (
        "a message over the size limit",
        encode(envelope("crm", "B-9", crm_organisation("X", custom_fields={"blob": "x" * 1_100_000}))),
        "payload_too_large",
        None,
    ),
    (
        "a NUL character in a customer's name, which PostgreSQL text cannot hold",
        encode(envelope("crm", "B-10", crm_organisation("Nul\u0000Trading"))),
        "invalid_payload",
        "payload.legal_name",
    ),
    (
        "a NUL character in the source record id",
        encode(envelope("crm", "B-11\u0000", crm_organisation("X"))),
        "invalid_envelope",
        "source_record_id",
    ),
    (
        "an unpaired surrogate escaped in a customer's name, which is no character and PostgreSQL refuses",
        encode(envelope("crm", "B-12", crm_organisation("Half \ud800 Surrogate Ltd"))),
        "invalid_payload",
        "payload.legal_name",
    ),
    (
        "an unpaired surrogate in the key of a custom field",
        encode(envelope("crm", "B-13", crm_organisation("Key Ltd", custom_fields={"note\udc00": "x"}))),
        "invalid_payload",
        "payload.custom_fields.note\ufffd",
    ),
    (
        "JSON nested 100,000 levels deep, which would exhaust the stack of whoever reads it",
        encode(envelope("crm", "B-14", crm_organisation("Deep Ltd", custom_fields={"x": "DEEP"}))).replace(
            b'"DEEP"', b"[" * 100_000 + b"]" * 100_000
        ),
        "invalid_payload",
        "$",
    ),
    (
        "JSON nested 70 levels deep, past the 64 the hub reads",
        encode(envelope("crm", "B-15", crm_organisation("Deep Ltd", custom_fields={"x": "DEEP"}))).replace(
            b'"DEEP"', b"[" * 70 + b"]" * 70
        ),
        "invalid_payload",
        "$",
    ),
    (
        "a customer with no name, identifier, email or phone",
        encode(envelope("crm", "B-7", {"party_type": "organization", "phones": ["not a phone"]})),
        "unidentifiable",
        "phones[0]",
    ),
    (
        "a customer with nothing at all to identify it",
        encode(envelope("crm", "B-17", {"party_type": "organization", "status": "active"})),
        "unidentifiable",
        "payload",
    ),
]


@pytest.mark.parametrize(("description", "raw", "code", "path"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_is_dead_lettered_with_its_code_and_the_messages_around_it_still_apply(
    hub: Hub, description: str, raw: bytes, code: str, path: str | None
) -> None:
    before = envelope("crm", "OK-BEFORE", crm_organisation("Before Ltd"))
    after = envelope("crm", "OK-AFTER", crm_organisation("After Ltd"), minutes=1)

    assert deliver(hub, "crm", before, offset=10) == "applied"
    assert deliver(hub, "crm", {}, raw=raw, offset=11) == "dead_lettered"
    assert deliver(hub, "crm", after, offset=12) == "applied"

    [letter] = dead_letter_events(hub.engine)
    assert letter["error_code"] == code
    assert letter["message"]
    if len(raw) <= DEAD_LETTER_VALUE_BYTES:
        assert base64.b64decode(letter["value_b64"]) == raw
    else:  # the event stays under what the broker takes; the stored dead letter keeps the whole message
        assert base64.b64decode(letter["value_b64"]) == raw[:DEAD_LETTER_VALUE_BYTES]
        assert f"holds its first {DEAD_LETTER_VALUE_BYTES:,} of {len(raw):,} bytes" in letter["message"]
        assert bytes(rows(hub.engine, "SELECT value FROM dead_letter")[0].value) == raw
    assert (letter["source_topic"], letter["partition"], letter["offset"]) == (
        "source.crm.customer.v1",
        0,
        11,
    )
    assert set(letter) == {
        "error_code",
        "message",
        "errors",
        "source_topic",
        "partition",
        "offset",
        "key_b64",
        "value_b64",
        "message_id",
        "dead_lettered_at",
    }
    if path is not None:
        assert path in [e["path"] for e in letter["errors"]], letter["errors"]
    assert len(customer_events(hub.engine)) == 2
    assert outcome_counts(hub.engine) == {"applied": 2, "dead_lettered": 1}
    stored = rows(hub.engine, "SELECT error_code, value FROM dead_letter")
    assert [(r.error_code, bytes(r.value)) for r in stored] == [(code, raw)]


def test_a_bad_message_published_again_while_its_dead_letter_is_open_is_a_duplicate(hub: Hub) -> None:
    bad = envelope("crm", "B-16", crm_organisation("Again Ltd", credit={"limit": 1.5}))

    assert deliver(hub, "crm", bad, offset=11) == "dead_lettered"
    assert deliver(hub, "crm", bad, offset=20) == "duplicate"  # the same key and bytes, another position
    assert len(dead_letter_events(hub.engine)) == 1
    assert outcome_counts(hub.engine) == {"dead_lettered": 1, "duplicate": 1}

    with hub.engine.begin() as conn:  # a steward closed the letter (say, replayed it after a fix)
        conn.execute(text("UPDATE dead_letter SET replayed_at = now()"))
    assert deliver(hub, "crm", bad, offset=30) == "dead_lettered"
    assert len(dead_letter_events(hub.engine)) == 2


def test_a_dead_lettered_message_is_not_marked_processed_so_it_can_be_replayed(hub: Hub) -> None:
    message = envelope("crm", "B-8", crm_organisation("Y", credit={"limit": 1.5}))

    assert deliver(hub, "crm", message) == "dead_lettered"

    assert rows(hub.engine, "SELECT count(*) AS n FROM processed_message")[0].n == 0
    assert dead_letter_events(hub.engine)[0]["message_id"] == message["message_id"]
