"""Replay dead letters after a fix: the stored bytes go through the same intake and use case as the stream."""

from __future__ import annotations

from typing import Any

from hub.service.credit import apply_exposure
from hub.service.golden import PublishContext
from hub.service.intake import InboundMessage, RecordExposure, Rejection, read_with_settings
from hub.service.messages import apply_message
from hub.service.stewardship import StewardActionRefused
from hub.settings import Settings
from hub.store.uow import UnitOfWork


def replay_dead_letter(
    uow: UnitOfWork,
    letter_id: int,
    *,
    settings: Settings,
    reason: str,
    actor: str,
    ctx: PublishContext,
) -> dict[str, Any]:
    """Apply a dead-lettered message again; it stays a dead letter, with its new errors, if still invalid.

    A replay that succeeds is applied exactly like a message off the topic (it may then turn out
    stale or a duplicate) and marks the dead letter replayed, so it is never applied twice.
    """
    row = uow.dead_letter_for_update(letter_id)
    if row is None:
        raise StewardActionRefused("dead_letter_not_found", f"no dead letter {letter_id}", 404)
    if row.replayed_at is not None:
        raise StewardActionRefused(
            "already_replayed", f"dead letter {letter_id} was replayed already ({row.replay_outcome})"
        )
    source = {topic: name for name, topic in settings.source_topics.items()}.get(row.source_topic)
    if source is None:
        raise StewardActionRefused(
            "unknown_topic", f"dead letter {letter_id} came from {row.source_topic}, not a source topic"
        )
    message = InboundMessage(row.source_topic, row.partition, row.offset, row.key, bytes(row.value))
    command = read_with_settings(message, topic_source=source, now=ctx.now, settings=settings)
    if row.message_id is not None and uow.is_processed(row.message_id):
        # the source sent the message again, corrected, and it was applied: nothing is left to replay
        outcome = "duplicate"
    elif isinstance(command, Rejection):
        return {
            "id": letter_id,
            "outcome": "still_invalid",
            "error_code": command.error_code,
            "message": command.message,
            "errors": [{"path": e.path, "message": e.message} for e in command.errors],
        }
    elif isinstance(command, RecordExposure):
        # not through apply_message: a rejection there would meet this very dead letter and count as
        # its redelivery, a duplicate, and the letter would be closed with nothing applied
        applied = apply_exposure(uow, command, ctx)
        if isinstance(applied, Rejection):  # valid now, but AR names a customer the hub does not know
            raise StewardActionRefused(
                "still_unidentifiable",
                f"dead letter {letter_id} names an unknown customer: {applied.message}",
                422,
            )
        outcome = applied
    else:
        outcome = apply_message(uow, message, command, source, ctx)
    uow.mark_replayed(letter_id, outcome, actor)
    result: dict[str, Any] = {"id": letter_id, "outcome": outcome}
    uow.audit(
        actor=actor,
        action="dead_letter.replay",
        target=f"dead_letter:{letter_id}",
        reason=reason,
        before={"error_code": row.error_code, "message_id": row.message_id},
        after=result,
    )
    return result


def delete_dead_letter(uow: UnitOfWork, letter_id: int, *, reason: str, actor: str) -> dict[str, Any]:
    """Delete a dead letter an admin judged has nothing left to apply (a later message superseded it).

    The audit keeps what it was, not its bytes: the source still has them.
    """
    row = uow.dead_letter_for_update(letter_id)
    if row is None:
        raise StewardActionRefused("dead_letter_not_found", f"no dead letter {letter_id}", 404)
    uow.delete_dead_letter(letter_id)
    before = {
        "error_code": row.error_code,
        "message_id": row.message_id,
        "source_topic": row.source_topic,
        "partition": row.partition,
        "offset": row.offset,
        "replay_outcome": row.replay_outcome,
    }
    result = {"id": letter_id, "deleted": True}
    uow.audit(
        actor=actor,
        action="dead_letter.delete",
        target=f"dead_letter:{letter_id}",
        reason=reason,
        before=before,
        after=result,
    )
    return result
