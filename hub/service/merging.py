"""Merge golden records that turned out to be one customer: the oldest survives, the others retire.

Retired golden records are never deleted: they keep their id, point at their survivor, and every
later message or lookup for them follows the pointer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from hub.service.golden import PublishContext, customer_event, refresh_golden
from hub.store.uow import UnitOfWork


def merge_golden_records(
    uow: UnitOfWork, survivor_id: str, retired_ids: Sequence[str], ctx: PublishContext, cause: dict[str, Any]
) -> None:
    """Move the retired records' sources to the survivor, retire them, publish merged and retired events."""
    for retired_id in retired_ids:
        golden = uow.golden(retired_id, for_update=True)
        if golden is None or golden.state in ("retired", "erased") or retired_id == survivor_id:
            continue
        uow.move_source_records(retired_id, survivor_id)
        retired = replace(
            golden,
            state="retired",
            survivor_id=survivor_id,
            version=golden.version + 1,
            customer=None,
            source_refs=[],
        )
        uow.save_golden(
            retired,
            event_type="customer.retired",
            event=customer_event(retired, "customer.retired", ctx.now, survivor_id=survivor_id),
            cause=cause,
            topic=ctx.customer_topic,
        )
        uow.supersede_reviews(retired_id, survivor_id)
    refresh_golden(
        uow, survivor_id, ctx, cause, event_type="customer.merged", extra={"merged_ids": list(retired_ids)}
    )
