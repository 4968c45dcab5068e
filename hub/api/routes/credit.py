"""Credit-limit proposals: the second person approves or rejects a raise above the threshold."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from hub.api.deps import ConnectionDep, HubDep, Reason, Steward, Viewer, in_transaction
from hub.api.problems import Problem
from hub.service.stewardship import decide_credit_limit
from hub.store import queries

router = APIRouter(prefix="/credit-limit-proposals", tags=["credit"])
ProposalId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class Decision(BaseModel):
    """Why the second person approves or rejects; the audit keeps it."""

    reason: Reason


@router.get("")
def list_proposals(
    conn: ConnectionDep,
    actor: Viewer,
    status: Annotated[Literal["pending", "approved", "rejected", "all"], Query()] = "pending",
    golden_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    after: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="cursor: the last id of the page")
    ] = None,
) -> dict[str, Any]:
    """Return credit-limit proposals oldest first: by default those waiting for a second person."""
    items = queries.credit_limit_proposals(
        conn, status=None if status == "all" else status, golden_id=golden_id, after=after, limit=limit
    )
    return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}


@router.get("/{proposal_id}")
def get_proposal(proposal_id: ProposalId, conn: ConnectionDep, actor: Viewer) -> dict[str, Any]:
    """Return one proposal: the limit before, the limit asked for, who asked and why."""
    found = queries.credit_limit_proposal_detail(conn, proposal_id)
    if found is None:
        raise Problem(404, "proposal_not_found", f"no credit-limit proposal {proposal_id}")
    return found


def _decide(hub: HubDep, proposal_id: int, approve: bool, reason: str, actor: str) -> dict[str, Any]:
    return in_transaction(
        hub,
        lambda uow: decide_credit_limit(
            uow, proposal_id, approve, reason=reason, actor=actor, ctx=hub.context()
        ),
    )


@router.post("/{proposal_id}/approve")
def approve(proposal_id: ProposalId, body: Decision, hub: HubDep, actor: Steward) -> dict[str, Any]:
    """Apply a pending credit-limit raise; a different steward or an admin than the proposer must approve."""
    return _decide(hub, proposal_id, True, body.reason, actor.name)


@router.post("/{proposal_id}/reject")
def reject(proposal_id: ProposalId, body: Decision, hub: HubDep, actor: Steward) -> dict[str, Any]:
    """Turn a pending credit-limit raise down."""
    return _decide(hub, proposal_id, False, body.reason, actor.name)
