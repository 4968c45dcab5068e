"""Read-side queries of the steward API: search, golden record detail, history, review queue."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Any

from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, Select, Table, and_, func, select

from hub.domain.names import LEGAL_FORM_PHRASES, LEGAL_FORM_TOKENS
from hub.store.tables import (
    ar_exposure,
    credit_limit_proposal,
    credit_status,
    customer_alert,
    dead_letter,
    golden_override,
    golden_record,
    golden_version,
    match_decision,
    match_key,
    match_review,
    source_record,
)

SUMMARY = [
    golden_record.c.golden_id,
    golden_record.c.state,
    golden_record.c.version,
    golden_record.c.survivor_id,
    golden_record.c.customer,
    golden_record.c.source_refs,
]


def _summary(row: Any) -> dict[str, Any]:
    customer = row.customer or {}
    return {
        "golden_id": row.golden_id,
        "state": row.state,
        "version": row.version,
        "survivor_id": row.survivor_id,
        "party_type": customer.get("party_type"),
        "legal_name": customer.get("legal_name"),
        "first_name": customer.get("first_name"),
        "last_name": customer.get("last_name"),
        "emails": customer.get("emails", []),
        "phones": customer.get("phones", []),
        "source_refs": row.source_refs,
    }


def search_by_key(
    conn: Connection, kind: str, values: Sequence[str], after: str | None, limit: int
) -> list[dict[str, Any]]:
    """Find golden records by exact blocking keys (email, phone, identifier), paged by golden id."""
    ids = select(match_key.c.golden_id).where(and_(match_key.c.kind == kind, match_key.c.value.in_(values)))
    return _page(conn, golden_record.c.golden_id.in_(ids), after, limit)


def search_by_source_ref(
    conn: Connection, source: str, source_record_id: str, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """Find the golden record a source reference is attached to."""
    ids = select(source_record.c.golden_id).where(
        and_(source_record.c.source == source, source_record.c.source_record_id == source_record_id)
    )
    return _page(conn, golden_record.c.golden_id.in_(ids), after, limit)


def search_by_golden_id(conn: Connection, golden_id: str) -> list[dict[str, Any]]:
    """Find one golden record by id."""
    return _page(conn, golden_record.c.golden_id == golden_id, None, 1)


def _page(conn: Connection, condition: Any, after: str | None, limit: int) -> list[dict[str, Any]]:
    stmt = select(*SUMMARY).where(and_(condition, golden_record.c.golden_id != "CASH"))
    if after is not None:
        stmt = stmt.where(golden_record.c.golden_id > after)
    rows = conn.execute(stmt.order_by(golden_record.c.golden_id).limit(limit)).all()
    return [_summary(r) for r in rows]


#: Word-similarity thresholds of the name search, tried in turn until one finds something. The trigram
#: index passes a candidate that has the threshold's share of the query's trigrams, and each candidate
#: costs a recheck: on 1M golden records 0.7 passes a few hundred for a typical name (p95 under 100 ms)
#: and still finds most misspellings; 0.5 passes thousands, and is only tried when nothing closer is
#: found. (At pg_trgm's 0.3 a name with a common word passes tens of thousands, SPEC 10.)
NAME_THRESHOLDS = (0.7, 0.6, 0.5)
#: At most this many index matches are ranked (SPEC 10: rank a few hundred, never count them all).
NAME_CANDIDATES = 300

_PUNCTUATION = re.compile(r"[^\w]+")


def name_search_words(query: str) -> str:
    """Return the words of a name query worth searching for: lower-cased, trailing legal forms dropped.

    "Apex Trading Sdn. Bhd." searches for "apex trading": the legal form's trigrams are in a large
    share of all names, so they cost the index scan most and tell it least; the whole query still
    ranks the matches, so the legal form the steward typed wins ties.
    """
    words = query.lower().split()
    plain = [_PUNCTUATION.sub("", w) for w in words]
    while len(words) > 1:
        phrase = next(
            (p for p in LEGAL_FORM_PHRASES if len(plain) > len(p) and tuple(plain[-len(p) :]) == p), None
        )
        cut = len(phrase) if phrase else 1 if plain[-1] in LEGAL_FORM_TOKENS or not plain[-1] else 0
        if not cut:
            break
        del words[-cut:], plain[-cut:]
    return " ".join(words)


_NAME_SEARCH = """
    SELECT g.golden_id, g.state, g.version, g.survivor_id, g.customer, g.source_refs, best.score
    FROM (
        SELECT golden_id, score, similarity(search_name, %(query)s) AS whole
        FROM (
            SELECT golden_id, search_name, word_similarity(%(words)s, search_name) AS score
            FROM golden_record
            WHERE %(words)s <%% search_name AND golden_id <> 'CASH'
            LIMIT %(candidates)s
        ) matched
        ORDER BY score DESC, whole DESC, golden_id
        LIMIT %(limit)s
    ) best
    JOIN golden_record g ON g.golden_id = best.golden_id
    ORDER BY best.score DESC, best.whole DESC, best.golden_id
"""


def search_by_name(conn: Connection, query: str, limit: int) -> list[dict[str, Any]]:
    """Fuzzy name search through the trigram index, best first (no total count: SPEC 10).

    A name matches when the query is like a run of words in it (pg_trgm word similarity), so
    "apex trading" finds "Apex Trading Sdn. Bhd." whether or not the steward typed the legal form;
    among equally good matches the one most like the whole name comes first.
    """
    driver = conn.connection.driver_connection
    assert driver is not None
    params = {
        "query": query.lower(),
        "words": name_search_words(query),
        "candidates": NAME_CANDIDATES,
        "limit": limit,
    }
    rows: list[Any] = []
    with driver.cursor(row_factory=namedtuple_row) as cursor:
        for threshold in NAME_THRESHOLDS:
            # prepare=False: psycopg prepares a statement after five executions, and PostgreSQL's
            # generic plan of a trigram search is a full scan (p99 2.5 s on 1M names, SPEC 10).
            cursor.execute(
                "SELECT set_config('pg_trgm.word_similarity_threshold', %s, true)",
                (str(threshold),),
                prepare=False,
            )
            rows = cursor.execute(_NAME_SEARCH, params, prepare=False).fetchall()
            if rows:
                break
    return [{**_summary(r), "score": round(float(r.score), 4)} for r in rows]


def golden_detail(conn: Connection, golden_id: str) -> dict[str, Any] | None:
    """Return a golden record with its source records, lineage and data quality."""
    row = conn.execute(select(golden_record).where(golden_record.c.golden_id == golden_id)).first()
    if row is None:
        return None
    sources = conn.execute(
        select(
            source_record.c.source,
            source_record.c.source_record_id,
            source_record.c.last_occurred_at,
            source_record.c.payload,
            source_record.c.issues,
        )
        .where(and_(source_record.c.golden_id == golden_id, source_record.c.detached.is_(False)))
        .order_by(source_record.c.source, source_record.c.source_record_id)
    ).all()
    return {
        "golden_id": row.golden_id,
        "state": row.state,
        "version": row.version,
        "survivor_id": row.survivor_id,
        "customer": row.customer,
        "source_refs": row.source_refs,
        "lineage": row.lineage,
        "data_quality": row.data_quality,
        "source_records": [
            {
                "source": s.source,
                "source_record_id": s.source_record_id,
                "last_occurred_at": s.last_occurred_at.isoformat(),
                "payload": s.payload,
                "issues": s.issues,
            }
            for s in sources
        ],
        "overrides": [
            {
                "attribute": o.attribute,
                "value": o.value,
                "actor": o.actor,
                "reason": o.reason,
                "set_at": o.set_at.isoformat(),
            }
            for o in conn.execute(
                select(golden_override)
                .where(golden_override.c.golden_id == golden_id)
                .order_by(golden_override.c.attribute)
            )
        ],
        "alerts": [
            {"id": a.id, "kind": a.kind, "detail": a.detail, "raised_at": a.raised_at.isoformat()}
            for a in conn.execute(
                select(customer_alert)
                .where(and_(customer_alert.c.golden_id == golden_id, customer_alert.c.resolved_at.is_(None)))
                .order_by(customer_alert.c.id)
            )
        ],
        "credit_status": _credit_status(conn, golden_id),
        "exposure": [
            {
                "account_id": e.account_id,
                "outstanding": f"{e.outstanding:.2f}",
                "overdue": None if e.overdue is None else f"{e.overdue:.2f}",
                "currency": e.currency,
                "as_of": e.as_of.isoformat(),
            }
            for e in conn.execute(
                select(ar_exposure)
                .where(ar_exposure.c.golden_id == golden_id)
                .order_by(ar_exposure.c.account_id)
            )
        ],
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def _credit_status(conn: Connection, golden_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(credit_status).where(credit_status.c.golden_id == golden_id)).first()
    return None if row is None else {"version": row.version, **row.status}


def golden_history(conn: Connection, golden_id: str) -> dict[str, Any]:
    """Return every version of a golden record with its cause, and the match decisions about it."""
    versions = conn.execute(
        select(golden_version)
        .where(golden_version.c.golden_id == golden_id)
        .order_by(golden_version.c.version)
    ).all()
    decisions = conn.execute(
        select(match_decision).where(match_decision.c.golden_id == golden_id).order_by(match_decision.c.id)
    ).all()
    return {
        "golden_id": golden_id,
        "versions": [
            {
                "version": v.version,
                "event_type": v.event_type,
                "cause": v.cause,
                "at": v.created_at.isoformat(),
                "customer": v.event.get("customer"),
            }
            for v in versions
        ],
        "decisions": [
            {
                "source": d.source,
                "source_record_id": d.source_record_id,
                "message_id": d.message_id,
                "outcome": d.outcome,
                "explanation": d.explanation,
                "at": d.decided_at.isoformat(),
            }
            for d in decisions
        ],
    }


def reviews(
    conn: Connection,
    status: str,
    after: int | None,
    limit: int,
    *,
    golden_id: str | None = None,
    source: str | None = None,
    min_probability: float | None = None,
) -> list[dict[str, Any]]:
    """Return match reviews of a status, oldest first, paged by id; optionally about one golden record,
    from one source, or at least this likely."""
    stmt = select(match_review)
    if status != "all":
        stmt = stmt.where(match_review.c.status == status)
    if golden_id is not None:
        stmt = stmt.where(
            (match_review.c.golden_id == golden_id) | (match_review.c.candidate_golden_id == golden_id)
        )
    if source is not None:
        stmt = stmt.where(match_review.c.source == source)
    if min_probability is not None:
        stmt = stmt.where(match_review.c.probability >= min_probability)
    if after is not None:
        stmt = stmt.where(match_review.c.id > after)
    rows = conn.execute(stmt.order_by(match_review.c.id).limit(limit)).all()
    return [_review(r) for r in rows]


def _review(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "status": r.status,
        "source": r.source,
        "source_record_id": r.source_record_id,
        "golden_id": r.golden_id,
        "candidate_golden_id": r.candidate_golden_id,
        "probability": r.probability,
        "created_at": r.created_at.isoformat(),
        "resolved_at": r.resolved_at.isoformat() if r.resolved_at else None,
    }


def review_detail(conn: Connection, review_id: int) -> dict[str, Any] | None:
    """Return a review with both golden records side by side and the per-comparison evidence."""
    row = conn.execute(select(match_review).where(match_review.c.id == review_id)).first()
    if row is None:
        return None
    candidates = row.explanation.get("candidates", [])
    evidence = next((c for c in candidates if c.get("golden_id") == row.candidate_golden_id), None)
    return {
        **_review(row),
        "record": _side(conn, row.golden_id),
        "candidate": _side(conn, row.candidate_golden_id),
        "evidence": evidence,
        "explanation": row.explanation,
    }


def _side(conn: Connection, golden_id: str) -> dict[str, Any]:
    found = conn.execute(
        select(golden_record.c.customer, golden_record.c.version, golden_record.c.state).where(
            golden_record.c.golden_id == golden_id
        )
    ).first()
    if found is None:
        return {"golden_id": golden_id, "customer": None, "version": None, "state": None}
    return {
        "golden_id": golden_id,
        "customer": found.customer,
        "version": found.version,
        "state": found.state,
    }


def count_open_reviews(conn: Connection) -> int:
    """Count the open match reviews."""
    return int(conn.execute(select(func.count()).where(match_review.c.status == "open")).scalar_one())


def dead_letters(
    conn: Connection,
    *,
    status: str,
    source_topic: str | None,
    error_code: str | None,
    after: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """List dead letters oldest first, paged by id: open ones (not yet replayed), replayed ones, or all."""
    stmt = select(dead_letter)
    if status == "open":
        stmt = stmt.where(dead_letter.c.replayed_at.is_(None))
    elif status == "replayed":
        stmt = stmt.where(dead_letter.c.replayed_at.is_not(None))
    stmt = _page_of(stmt, dead_letter, after, limit, source_topic=source_topic, error_code=error_code)
    return [_dead_letter(r) for r in conn.execute(stmt).all()]


def dead_letter_detail(conn: Connection, letter_id: int) -> dict[str, Any] | None:
    """Return one dead letter."""
    row = conn.execute(select(dead_letter).where(dead_letter.c.id == letter_id)).first()
    return None if row is None else _dead_letter(row)


def _dead_letter(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "status": "open" if r.replayed_at is None else "replayed",
        "error_code": r.error_code,
        "message": r.message,
        "errors": r.errors,
        "source_topic": r.source_topic,
        "partition": r.partition,
        "offset": r.offset,
        "message_id": r.message_id,
        "key_b64": None if r.key is None else base64.b64encode(r.key).decode(),
        "value_b64": base64.b64encode(r.value).decode(),
        "dead_lettered_at": r.dead_lettered_at.isoformat(),
        "replayed_at": r.replayed_at.isoformat() if r.replayed_at else None,
        "replay_outcome": r.replay_outcome,
        "replayed_by": r.replayed_by,
    }


def _proposal(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "golden_id": r.golden_id,
        "credit_limit": f"{r.credit_limit:.2f}",
        "currency": r.currency,
        "previous_limit": None if r.previous_limit is None else f"{r.previous_limit:.2f}",
        "proposed_by": r.proposed_by,
        "reason": r.reason,
        "status": r.status,
        "decided_by": r.decided_by,
        "decided_at": None if r.decided_at is None else r.decided_at.isoformat(),
        "created_at": r.created_at.isoformat(),
    }


def credit_limit_proposals(
    conn: Connection, *, status: str | None, golden_id: str | None, after: int | None, limit: int
) -> list[dict[str, Any]]:
    """List credit-limit proposals oldest first, paged by id: what waits for a second person, or all."""
    stmt = _page_of(
        select(credit_limit_proposal), credit_limit_proposal, after, limit, status=status, golden_id=golden_id
    )
    return [_proposal(r) for r in conn.execute(stmt)]


def _page_of(stmt: Select[Any], table: Table, after: int | None, limit: int, **equal: Any) -> Select[Any]:
    """Narrow a listing to the columns given a value, and page it by id, oldest first."""
    for column, value in equal.items():
        if value is not None:
            stmt = stmt.where(table.c[column] == value)
    if after is not None:
        stmt = stmt.where(table.c.id > after)
    return stmt.order_by(table.c.id).limit(limit)


def credit_limit_proposal_detail(conn: Connection, proposal_id: int) -> dict[str, Any] | None:
    """Return one credit-limit proposal."""
    row = conn.execute(select(credit_limit_proposal).where(credit_limit_proposal.c.id == proposal_id)).first()
    return None if row is None else _proposal(row)
