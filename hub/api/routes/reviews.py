"""The review queue: open match reviews, the evidence side by side, and the steward's decision."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query
from pydantic import BaseModel, Field

from hub.api.deps import ConnectionDep, HubDep, Reason, Steward, Viewer, expected_version, in_transaction
from hub.api.problems import Problem
from hub.service.stewardship import decide_review
from hub.store import queries

router = APIRouter(prefix="/reviews", tags=["reviews"])
ReviewId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class ReviewDecision(BaseModel):
    """A steward's answer to a match review, with the reason the audit keeps."""

    decision: Literal["merge", "distinct"]
    reason: Reason
    version: int | None = Field(
        None, ge=1, strict=True, description="the version of the review's record the decision is based on"
    )
    candidate_version: int | None = Field(
        None, ge=1, strict=True, description="the version of the review's candidate the decision is based on"
    )


@router.get("")
def list_reviews(
    conn: ConnectionDep,
    actor: Viewer,
    status: Annotated[Literal["open", "merged", "distinct", "superseded", "all"], Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    after: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="cursor: the last id of the page")
    ] = None,
    golden_id: Annotated[str | None, Query(max_length=40, description="either side of the pair")] = None,
    source: Annotated[str | None, Query(pattern="^(crm|pos|ecommerce)$")] = None,
    min_probability: Annotated[float | None, Query(ge=0, le=1)] = None,
) -> dict[str, Any]:
    """Return match reviews of a status, oldest first; filter by golden record, source or likelihood."""
    items = queries.reviews(
        conn, status, after, limit, golden_id=golden_id, source=source, min_probability=min_probability
    )
    return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}


@router.get("/{review_id}")
def get_review(review_id: ReviewId, conn: ConnectionDep, actor: Viewer) -> dict[str, Any]:
    """Return a review with both records side by side and the per-comparison levels, weights and total."""
    detail = queries.review_detail(conn, review_id)
    if detail is None:
        raise Problem(404, "review_not_found", f"no match review {review_id}")
    return detail


@router.post("/{review_id}/decision")
def decide(
    review_id: ReviewId,
    body: ReviewDecision,
    hub: HubDep,
    actor: Steward,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Merge the two golden records (the older survives) or mark them distinct, never to be auto-linked.

    The versions of the review's record (`version` or If-Match) and candidate (`candidate_version`) the
    steward saw, where given, must still be current (409 otherwise).
    """
    record_version = body.version if if_match is None else expected_version(if_match, body.version)
    return in_transaction(
        hub,
        lambda uow: decide_review(
            uow,
            review_id,
            body.decision,
            reason=body.reason,
            actor=actor.name,
            ctx=hub.context(),
            seen_versions={"record": record_version, "candidate": body.candidate_version},
        ),
    )
