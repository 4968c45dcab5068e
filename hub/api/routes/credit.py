"""Credit-limit proposals: the second person approves or rejects a raise above the threshold."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel

from hub.api.deps import HubDep, Reason, Steward
from hub.service.stewardship import decide_credit_limit
from hub.store.uow import unit_of_work

router = APIRouter(prefix="/credit-limit-proposals", tags=["credit"])
ProposalId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class Decision(BaseModel):
    """Why the second person approves or rejects; the audit keeps it."""

    reason: Reason


def _decide(hub: HubDep, proposal_id: int, approve: bool, reason: str, actor: str) -> dict[str, Any]:
    with unit_of_work(hub.engine) as uow:
        return decide_credit_limit(uow, proposal_id, approve, reason=reason, actor=actor, ctx=hub.context())


@router.post("/{proposal_id}/approve")
def approve(proposal_id: ProposalId, body: Decision, hub: HubDep, actor: Steward) -> dict[str, Any]:
    """Apply a pending credit-limit raise; a different steward or an admin than the proposer must approve."""
    return _decide(hub, proposal_id, True, body.reason, actor.name)


@router.post("/{proposal_id}/reject")
def reject(proposal_id: ProposalId, body: Decision, hub: HubDep, actor: Steward) -> dict[str, Any]:
    """Turn a pending credit-limit raise down."""
    return _decide(hub, proposal_id, False, body.reason, actor.name)
