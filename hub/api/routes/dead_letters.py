"""Dead letters: list what could not be applied, and replay it after a fix (admin)."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy.exc import InterfaceError, OperationalError

from contracts.outbound import DeadLetterCode
from hub.api.deps import Admin, ConnectionDep, HubDep, Reason, ReasonQuery, Viewer, in_transaction
from hub.api.problems import Problem
from hub.bootstrap import Hub
from hub.service.replay import delete_dead_letter, replay_dead_letter
from hub.service.stewardship import StewardActionRefused
from hub.store import queries
from hub.store.uow import unit_of_work

log = logging.getLogger(__name__)

router = APIRouter(prefix="/dead-letters", tags=["dead letters"])
LetterId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class ReplayRequest(BaseModel):
    """Why the dead letter is replayed (what was fixed); the audit keeps it."""

    reason: Reason


class ReplayAllRequest(ReplayRequest):
    """Replay every open dead letter, optionally only of one topic or error code, oldest first."""

    source_topic: str | None = Field(None, max_length=249)
    error_code: DeadLetterCode | None = None
    limit: int = Field(1000, ge=1, le=10000)


@router.get("")
def list_dead_letters(
    conn: ConnectionDep,
    actor: Viewer,
    hub: HubDep,
    status: Annotated[Literal["open", "replayed", "all"], Query()] = "open",
    source_topic: Annotated[str | None, Query(max_length=249)] = None,
    error_code: Annotated[DeadLetterCode | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="cursor: the last id of the page")
    ] = None,
) -> dict[str, Any]:
    """Return dead letters oldest first, with the original bytes (base64) and every field error."""
    _known_topic(hub, source_topic, "query.source_topic")
    items = queries.dead_letters(
        conn, status=status, source_topic=source_topic, error_code=error_code, after=after, limit=limit
    )
    return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}


def _known_topic(hub: Hub, topic: str | None, path: str) -> None:
    """Refuse a filter naming a topic the hub does not read: it would quietly match nothing."""
    topics = sorted(hub.settings.source_topics.values())
    if topic is not None and topic not in topics:
        raise Problem(
            422,
            "invalid_request",
            "the request does not follow the API",
            errors=[{"path": path, "message": f"not a source topic of this hub: one of {', '.join(topics)}"}],
        )


def _replay(hub: Hub, letter_id: int, reason: str, actor: str) -> dict[str, Any]:
    try:
        return in_transaction(
            hub,
            lambda uow: replay_dead_letter(
                uow, letter_id, settings=hub.settings, reason=reason, actor=actor, ctx=hub.context()
            ),
        )
    except (StewardActionRefused, OperationalError, InterfaceError):
        raise  # a refusal answers as itself; a lost database is the server's failure
    except Exception as error:  # the message still breaks the hub: the letter stays open, nothing changed
        log.exception("replaying dead letter %d failed", letter_id)
        raise StewardActionRefused(
            "replay_failed",
            f"dead letter {letter_id} still fails in the hub ({type(error).__name__}); it stays open",
            422,
        ) from error


@router.post("/replay")
def replay_all(body: ReplayAllRequest, hub: HubDep, actor: Admin) -> dict[str, Any]:
    """Replay the open dead letters one by one, each in its own transaction; report what came of each."""
    _known_topic(hub, body.source_topic, "body.source_topic")
    with unit_of_work(hub.engine) as uow:
        ids = uow.open_dead_letter_ids(
            source_topic=body.source_topic, error_code=body.error_code, limit=body.limit
        )
    results = []
    for letter_id in ids:
        try:
            results.append(_replay(hub, letter_id, body.reason, actor.name))
        except StewardActionRefused as refused:  # replayed meanwhile by someone else, or still failing
            results.append(
                {"id": letter_id, "outcome": refused.code, "message": refused.message}
                if refused.code in ("replay_failed", "still_unidentifiable")
                else {"id": letter_id, "outcome": "skipped", "message": refused.message}
            )
    counts: dict[str, int] = {}
    for result in results:
        counts[result["outcome"]] = counts.get(result["outcome"], 0) + 1
    return {"replayed": len(results), "outcomes": counts, "results": results}


@router.post("/{letter_id}/replay")
def replay_one(letter_id: LetterId, body: ReplayRequest, hub: HubDep, actor: Admin) -> dict[str, Any]:
    """Apply one dead letter again; if it is still invalid it stays open and the answer says why."""
    result = _replay(hub, letter_id, body.reason, actor.name)
    if result["outcome"] == "still_invalid":
        raise Problem(
            422,
            "still_invalid",
            f"dead letter {letter_id} is still invalid ({result['error_code']}): {result['message']}",
            error_code=result["error_code"],
            errors=result["errors"],
        )
    return result


@router.get("/{letter_id}")
def get_dead_letter(letter_id: LetterId, conn: ConnectionDep, actor: Viewer) -> dict[str, Any]:
    """Return one dead letter, with the original bytes (base64) and every field error."""
    found = queries.dead_letter_detail(conn, letter_id)
    if found is None:
        raise Problem(404, "dead_letter_not_found", f"no dead letter {letter_id}")
    return found


@router.delete("/{letter_id}")
def delete_one(letter_id: LetterId, reason: ReasonQuery, hub: HubDep, actor: Admin) -> dict[str, Any]:
    """Delete a dead letter there is nothing left to apply from (say, a later message superseded it)."""
    return in_transaction(
        hub, lambda uow: delete_dead_letter(uow, letter_id, reason=reason, actor=actor.name)
    )
