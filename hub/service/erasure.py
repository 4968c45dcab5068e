"""Erase a customer's personal data on request (GDPR); the golden id stays as a tombstone."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

from hub.domain.erasure import IDENTIFYING_KEYS, any_personal, personal_values, redact
from hub.service.credit import refresh_credit_status
from hub.service.golden import PublishContext, customer_event
from hub.service.stewardship import StewardActionRefused
from hub.store import erasure as rows
from hub.store.uow import WALK_IN_GOLDEN_ID, UnitOfWork

#: Strings in explanations and audit entries that describe compared values; blanked whole.
DESCRIPTIVE_KEYS = frozenset({"reason", "message"})


def erase_customer(
    uow: UnitOfWork,
    golden_id: str,
    *,
    expected_version: int,
    reason: str,
    actor: str,
    ctx: PublishContext,
) -> dict[str, Any]:
    """Remove a customer's personal data from every table, publish `customer.erased`, keep the id.

    The retired records merged into it are erased with it. Its source records are deleted, so a
    later message from the same source record starts a new golden record. The audit entry names
    the fields and tables touched, never a value.
    """
    golden = uow.golden(golden_id, for_update=True)
    if golden is None:
        raise StewardActionRefused("customer_not_found", f"no golden record {golden_id}", 404)
    if golden_id == WALK_IN_GOLDEN_ID:
        raise StewardActionRefused("not_erasable", "the walk-in customer holds no one's personal data", 422)
    if golden.state == "erased":
        raise StewardActionRefused("already_erased", f"{golden_id} was erased already")
    if golden.state == "retired":
        raise StewardActionRefused(
            "retired", f"{golden_id} merged into {golden.survivor_id}; erase the survivor", 409
        )
    if golden.version != expected_version:
        raise StewardActionRefused(
            "version_conflict", f"{golden_id} is at version {golden.version}, not {expected_version}; reload"
        )
    conn = uow.conn
    ids = rows.merged_into(conn, golden_id)
    sources = rows.source_records_of(conn, ids)
    documents = [*rows.documents_of(conn, ids), *(s.payload for s in sources), *(s.record for s in sources)]
    values = personal_values(documents)
    identifying = personal_values(documents, keys=IDENTIFYING_KEYS)
    fields = sorted(k for k, v in (golden.customer or {}).items() if v not in (None, "", [], {}))
    changed = rows.erase_rows(
        conn,
        ids,
        [(s.source, s.source_record_id) for s in sources],
        partial(redact, values=values, blank_keys=DESCRIPTIVE_KEYS),
        partial(_touches, values=identifying),
    )
    erased = replace(
        golden,
        state="erased",
        version=golden.version + 1,
        customer=None,
        source_refs=[],
        lineage={},
        data_quality={"complete": False, "missing": [], "issues": []},
    )
    cause = {"steward": actor, "action": "erase", "reason": reason}
    uow.save_golden(
        erased,
        event_type="customer.erased",
        event=customer_event(erased, "customer.erased", ctx.now),
        cause=cause,
        topic=ctx.customer_topic,
    )
    refresh_credit_status(uow, golden_id, ctx)
    for erased_id in ids:  # a review of a customer who no longer exists is nothing a steward can decide
        uow.supersede_reviews(erased_id)
    result = {
        "golden_id": golden_id,
        "state": "erased",
        "version": erased.version,
        "erased_ids": ids,
        "source_records_removed": len(sources),
    }
    uow.audit(
        actor=actor,
        action="erase",
        target=golden_id,
        reason=reason,
        before={"version": golden.version, "fields": fields},
        after={**result, "rows_changed": changed},
    )
    return result


def _touches(document: Any, values: frozenset[str]) -> bool:
    return bool(values) and document is not None and any_personal(document, values)
