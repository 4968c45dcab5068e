"""Merge golden records that turned out to be one customer: the oldest survives, the others retire.

Retired golden records are never deleted: they keep their id, point at their survivor, and every
later message or lookup for them follows the pointer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from hub.service.credit import reattribute_exposure_on_unmerge, refresh_credit_status
from hub.service.golden import PublishContext, customer_event, refresh_golden
from hub.store.uow import UnitOfWork


def merge_golden_records(
    uow: UnitOfWork, survivor_id: str, retired_ids: Sequence[str], ctx: PublishContext, cause: dict[str, Any]
) -> None:
    """Move the retired records' sources to the survivor, retire them, publish merged and retired events.

    A blacklisted record keeps its customer blacklisted after a merge; overrides carry over where the
    survivor has none of its own.
    """
    blacklisted = False
    children: set[str] = set()
    for retired_id in retired_ids:
        golden = uow.golden(retired_id, for_update=True)
        if golden is None or golden.state in ("retired", "erased") or retired_id == survivor_id:
            continue
        children |= uow.children_of(retired_id)
        blacklisted = blacklisted or bool(golden.customer and golden.customer.get("blacklisted"))
        uow.move_source_records(retired_id, survivor_id)
        uow.move_overrides(retired_id, survivor_id)
        uow.move_exposures(retired_id, survivor_id)
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
        refresh_credit_status(uow, retired_id, ctx)
        uow.supersede_reviews(retired_id)
    refresh_golden(
        uow,
        survivor_id,
        ctx,
        cause,
        event_type="customer.merged",
        extra={"merged_ids": list(retired_ids)},
        blacklisted=True if blacklisted else None,
    )
    # a hierarchy survives the merge: children that named a retired parent now name the survivor
    for child in sorted({uow.resolve(c) for c in children} - {survivor_id, *retired_ids}):
        refresh_golden(uow, child, ctx, cause)


class UnmergeRefused(ValueError):
    """An unmerge that cannot be done as asked; `code` says why, for the API to report."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def unmerge_source_records(
    uow: UnitOfWork,
    golden_id: str,
    source_refs: Sequence[tuple[str, str]],
    ctx: PublishContext,
    cause: dict[str, Any],
    *,
    actor: str,
) -> str:
    """Split source records off a golden record into a new one; return the new golden id.

    Survivorship re-runs on both. The two are marked distinct, so the matcher does not merge them
    straight back; a steward can still merge them by hand.
    """
    golden = uow.golden(golden_id, for_update=True)
    if golden is None or golden.state != "active":
        raise UnmergeRefused("not_active", f"{golden_id} is not an active golden record")
    attached = {(r.source, r.source_record_id) for r in uow.attached_records(golden_id)}
    wanted = set(source_refs)
    if not wanted:
        raise UnmergeRefused("nothing_to_split", "name at least one source reference to split off")
    if not wanted <= attached:
        missing = ", ".join(f"{s}/{r}" for s, r in sorted(wanted - attached))
        raise UnmergeRefused("not_attached", f"{missing} not attached to {golden_id}")
    if wanted == attached:
        raise UnmergeRefused(
            "would_empty", f"splitting every source record off {golden_id} would leave it empty"
        )
    new_id = uow.next_golden_id()
    uow.create_golden(new_id)
    for source, ref in sorted(wanted):
        uow.move_source_record(source, ref, new_id)
    reattribute_exposure_on_unmerge(uow, golden_id, new_id, wanted)
    uow.mark_distinct(golden_id, new_id, actor)
    refresh_golden(uow, golden_id, ctx, cause, event_type="customer.unmerged", extra={"split_into": new_id})
    refresh_golden(uow, new_id, ctx, cause)
    # children of a split-off record now name the new golden record as their parent
    for child in sorted({uow.resolve(c) for c in uow.children_of(new_id)} - {golden_id, new_id}):
        refresh_golden(uow, child, ctx, cause)
    return new_id
