"""Steward use cases: decide a match review; every action is audited with actor, reason, before, after."""

from __future__ import annotations

from typing import Any, Literal

from hub.service.golden import PublishContext
from hub.service.merging import merge_golden_records
from hub.store.uow import UnitOfWork


class StewardActionRefused(ValueError):
    """A steward action that cannot be done as asked; `code` and `status` tell the API what to answer."""

    def __init__(self, code: str, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def decide_review(
    uow: UnitOfWork,
    review_id: int,
    decision: Literal["merge", "distinct"],
    *,
    reason: str,
    actor: str,
    ctx: PublishContext,
) -> dict[str, Any]:
    """Resolve an open review: merge the two golden records (older survives) or keep them apart for good."""
    row = uow.review_for_update(review_id)
    if row is None:
        raise StewardActionRefused("review_not_found", f"no match review {review_id}", 404)
    if row.status != "open":
        raise StewardActionRefused("review_closed", f"review {review_id} is already {row.status}")
    first, second = uow.resolve(row.golden_id), uow.resolve(row.candidate_golden_id)
    if first == second:
        raise StewardActionRefused(
            "already_one_customer", f"{row.golden_id} and {row.candidate_golden_id} merged"
        )
    survivor, retired = sorted((first, second), key=lambda g: (len(g), g))
    cause = {"steward": actor, "action": f"review.{decision}", "review_id": review_id, "reason": reason}
    if decision == "merge":
        merge_golden_records(uow, survivor, [retired], ctx, cause)
        status = "merged"
    else:
        uow.mark_distinct(first, second, actor)
        status = "distinct"
    uow.close_review(review_id, status)
    result = {
        "review_id": review_id,
        "status": status,
        "survivor_id": survivor if decision == "merge" else None,
    }
    uow.audit(
        actor=actor,
        action=f"review.{decision}",
        target=f"review:{review_id}",
        reason=reason,
        before={"status": "open", "golden_ids": [first, second]},
        after=result,
    )
    return result
