"""The rows an erasure touches: everything stored about a set of golden records and their source records."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select, text, tuple_, update

from hub.store.tables import (
    audit_log,
    customer_alert,
    dead_letter,
    golden_override,
    golden_record,
    golden_version,
    match_decision,
    match_key,
    match_review,
    outbox,
    source_record,
)

Redactor = Callable[[Any], Any]


def _readable(value: str) -> str:
    """Return an outbox value with a dead letter's base64 body decoded, so personal values can be found."""
    try:
        document = json.loads(value)
        body = base64.b64decode(document.get("value_b64") or "").decode("utf-8", "replace")
    except (ValueError, AttributeError):
        return value
    return f"{value}\n{body}"


def merged_into(conn: Connection, golden_id: str) -> list[str]:
    """Return the golden id and every retired id whose chain of survivors leads to it."""
    rows = conn.execute(
        text(
            """
            WITH RECURSIVE chain(golden_id) AS (
                SELECT CAST(:id AS text)
                UNION
                SELECT g.golden_id FROM golden_record g JOIN chain c ON g.survivor_id = c.golden_id
            )
            SELECT golden_id FROM chain ORDER BY golden_id
            """
        ),
        {"id": golden_id},
    ).scalars()
    return list(rows)


def source_records_of(conn: Connection, golden_ids: Collection[str]) -> list[Any]:
    """Return every source record ever attached to these golden records, detached ones too."""
    return list(
        conn.execute(
            select(
                source_record.c.source,
                source_record.c.source_record_id,
                source_record.c.payload,
                source_record.c.record,
            ).where(source_record.c.golden_id.in_(golden_ids))
        ).all()
    )


def documents_of(conn: Connection, golden_ids: Collection[str]) -> list[Any]:
    """Return every stored snapshot of these golden records, for gathering personal values."""
    current = conn.execute(
        select(golden_record.c.customer).where(golden_record.c.golden_id.in_(golden_ids))
    ).scalars()
    history = conn.execute(
        select(golden_version.c.event).where(golden_version.c.golden_id.in_(golden_ids))
    ).scalars()
    return [*current, *history]


def erase_rows(
    conn: Connection,
    golden_ids: Collection[str],
    refs: Collection[tuple[str, str]],
    redactor: Redactor,
    touches_person: Callable[[Any], bool],
) -> dict[str, int]:
    """Blank personal data out of every row about these golden records; return rows changed per table.

    Source records and match keys are deleted, so a later message from the same source record is new
    data. History, decisions, reviews, audit entries and alerts are kept with their personal strings
    redacted; outbox rows about the customer are deleted (the erased event is queued after this).
    """
    ids = list(golden_ids)
    ref_list = list(refs)
    changed: dict[str, int] = {}

    ref_match = (
        tuple_(source_record.c.source, source_record.c.source_record_id).in_(ref_list) if ref_list else None
    )
    changed["match_key"] = conn.execute(
        delete(match_key).where(
            or_(
                match_key.c.golden_id.in_(ids),
                *(
                    [tuple_(match_key.c.source, match_key.c.source_record_id).in_(ref_list)]
                    if ref_list
                    else []
                ),
            )
        )
    ).rowcount
    changed["source_record"] = (
        conn.execute(delete(source_record).where(ref_match)).rowcount if ref_match is not None else 0
    )
    changed["golden_override"] = conn.execute(
        delete(golden_override).where(golden_override.c.golden_id.in_(ids))
    ).rowcount
    changed["golden_record"] = conn.execute(
        update(golden_record)
        .where(golden_record.c.golden_id.in_(ids))
        .values(
            customer=None,
            source_refs=[],
            lineage={},
            data_quality={"complete": False, "missing": [], "issues": []},
        )
    ).rowcount

    def rewrite(table: Any, key: Any, columns: list[str], condition: Any) -> int:
        count = 0
        for row in conn.execute(select(key, *(table.c[c] for c in columns)).where(condition)).all():
            values = {c: redactor(getattr(row, c)) for c in columns}
            if any(values[c] != getattr(row, c) for c in columns):
                conn.execute(update(table).where(key == row[0]).values(**values))
                count += 1
        return count

    changed["golden_version"] = 0
    for version in conn.execute(
        select(
            golden_version.c.golden_id,
            golden_version.c.version,
            golden_version.c.event,
            golden_version.c.cause,
        ).where(golden_version.c.golden_id.in_(ids))
    ).all():
        event = {
            **redactor(version.event),
            "customer": None,
            "lineage": {},
            "data_quality": {"complete": False, "missing": [], "issues": []},
        }
        conn.execute(
            update(golden_version)
            .where(
                and_(
                    golden_version.c.golden_id == version.golden_id,
                    golden_version.c.version == version.version,
                )
            )
            .values(event=event, cause=redactor(version.cause))
        )
        changed["golden_version"] += 1

    decision_refs = (
        [tuple_(match_decision.c.source, match_decision.c.source_record_id).in_(ref_list)] if ref_list else []
    )
    changed["match_decision"] = rewrite(
        match_decision,
        match_decision.c.id,
        ["explanation"],
        or_(match_decision.c.golden_id.in_(ids), *decision_refs),
    )
    review_refs = (
        [tuple_(match_review.c.source, match_review.c.source_record_id).in_(ref_list)] if ref_list else []
    )
    changed["match_review"] = rewrite(
        match_review,
        match_review.c.id,
        ["explanation"],
        or_(match_review.c.golden_id.in_(ids), match_review.c.candidate_golden_id.in_(ids), *review_refs),
    )
    changed["customer_alert"] = rewrite(
        customer_alert, customer_alert.c.id, ["detail"], customer_alert.c.golden_id.in_(ids)
    )
    changed["audit_log"] = 0
    entries = select(audit_log.c.id, audit_log.c.target, audit_log.c.before, audit_log.c.after)
    for entry in conn.execute(entries).all():
        if entry.target in ids or touches_person(entry.before) or touches_person(entry.after):
            conn.execute(
                update(audit_log)
                .where(audit_log.c.id == entry.id)
                .values(before=redactor(entry.before), after=redactor(entry.after))
            )
            changed["audit_log"] += 1

    keys = {ref.encode() for _, ref in ref_list}
    changed["outbox"] = conn.execute(delete(outbox).where(outbox.c.golden_id.in_(ids))).rowcount
    queue = select(outbox.c.id, outbox.c.key, outbox.c.value).where(outbox.c.golden_id.is_(None))
    for queued in conn.execute(queue).all():
        if (queued.key is not None and bytes(queued.key) in keys) or touches_person(_readable(queued.value)):
            conn.execute(delete(outbox).where(outbox.c.id == queued.id))
            changed["outbox"] += 1

    changed["dead_letter"] = 0
    letters = select(
        dead_letter.c.id, dead_letter.c.key, dead_letter.c.value, dead_letter.c.message, dead_letter.c.errors
    )
    for letter in conn.execute(letters).all():
        body = bytes(letter.value).decode("utf-8", "replace")
        if (letter.key is not None and bytes(letter.key) in keys) or touches_person(body):
            conn.execute(
                update(dead_letter)
                .where(dead_letter.c.id == letter.id)
                .values(key=None, value=b"", message=redactor(letter.message), errors=redactor(letter.errors))
            )
            changed["dead_letter"] += 1
    return changed
