"""The re-match sweep: find golden records that became duplicates and merge them.

Two near-identical records arriving at the same instant on different partitions can each found a
golden record, because neither saw the other's uncommitted work. (Records sharing a valid
identifier cannot: advisory locks on the identifier keys serialise them.) The sweep re-scores the
source records of recently changed golden records against their candidates and merges what links.
"""

from __future__ import annotations

from datetime import datetime

from hub.service.golden import PublishContext
from hub.service.merging import merge_golden_records
from hub.service.source_changes import candidate_records
from hub.store.codec import record_from_json
from hub.store.uow import UnitOfWork


def rematch_golden(uow: UnitOfWork, golden_id: str, ctx: PublishContext) -> tuple[str, ...]:
    """Re-score one golden record's source records; merge it with the golden records they link to."""
    golden = uow.golden(golden_id)
    if golden is None or golden.state != "active":
        return ()
    for stored in uow.attached_records(golden_id):
        record = record_from_json(stored.record)
        found = candidate_records(uow, record, golden_id)
        if not found.records:
            continue
        decision = found.decide(record, golden_id, ctx.model)
        if decision.merge and decision.golden_id is not None:
            cause = {"sweep": "rematch", "source": stored.source, "source_record_id": stored.source_record_id}
            merge_golden_records(uow, decision.golden_id, decision.merge, ctx, cause)
            return decision.merge
    return ()


def recently_changed(uow: UnitOfWork, since: datetime) -> list[str]:
    """Return the active golden records changed after `since`, the sweep's work list."""
    return uow.golden_ids_changed_since(since)
