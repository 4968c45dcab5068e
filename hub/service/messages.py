"""One inbound message, read, to its outcome: the single path the stream, the replay and the import share."""

from __future__ import annotations

from hub.service.credit import apply_exposure
from hub.service.golden import PublishContext
from hub.service.intake import ApplySourceChange, InboundMessage, RecordExposure, Rejection
from hub.service.source_changes import Outcome, apply_source_change, dead_letter_message
from hub.store.uow import UnitOfWork


def apply_message(
    uow: UnitOfWork,
    message: InboundMessage,
    command: ApplySourceChange | RecordExposure | Rejection,
    source: str,
    ctx: PublishContext,
) -> Outcome:
    """Apply what a message says, or dead-letter it with its reasons, in the caller's transaction."""
    if isinstance(command, Rejection):
        return dead_letter_message(uow, message, command, source, ctx)
    if isinstance(command, RecordExposure):
        result = apply_exposure(uow, command, ctx)
        if isinstance(result, Rejection):
            return dead_letter_message(uow, message, result, source, ctx)
        return result
    return apply_source_change(uow, command, ctx)
