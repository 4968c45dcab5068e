"""Use cases of the stream: apply a source change, or dead-letter a message that cannot be applied.

Each runs inside one unit of work. The processed message id is written in the same transaction as
the effects, so a redelivery after a crash finds it and changes nothing (SPEC 5).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from contracts.outbound import DeadLetter
from hub.domain.blocking import blocking_keys
from hub.domain.matching import Decision, decide_match
from hub.domain.model import CleanRecord
from hub.domain.scoring import MatchModel
from hub.service.credit import exposure_locks, refresh_credit_status
from hub.service.golden import PublishContext, refresh_golden
from hub.service.intake import ApplySourceChange, InboundMessage, RecordExposure, Rejection
from hub.service.merging import merge_golden_records
from hub.store.codec import record_from_json, record_to_json
from hub.store.uow import (
    WALK_IN_GOLDEN_ID,
    MatchContext,
    SourceChangeKeys,
    SourceRecordState,
    StoredSourceRecord,
    UnitOfWork,
)

Outcome = Literal["applied", "duplicate", "stale", "dead_lettered"]


def change_locks(command: ApplySourceChange) -> tuple[str, ...]:
    """The advisory locks of a source change: on the source record and on its identifiers, so two
    workers never interleave changes of one source record, and never both create a golden record for
    the same identifier."""
    locks = [f"source:{command.source}:{command.source_record_id}", f"message:{command.message_id}"]
    if command.record is not None:
        locks += [f"identifier:{k}" for k in command.record.identifier_keys]
    return tuple(locks)


def read_ahead(uow: UnitOfWork, commands: Iterable[object]) -> None:
    """Open a batch's source changes and find their records' candidates at once: two round trips for
    the batch instead of three per message. An AR batch takes all its locks at once, in the one order
    every worker uses, as a batch of customer changes does: taken message by message, two batches could
    each hold a source record's lock the other waits for."""
    commands = list(commands)
    exposure_keys = [k for c in commands if isinstance(c, RecordExposure) for k in exposure_locks(c)]
    if exposure_keys:
        uow.lock(exposure_keys)
    uow.read_ahead_source_changes(
        [
            SourceChangeKeys(
                change_locks(c),
                c.message_id,
                c.source,
                c.source_record_id,
                ()
                if c.record is None or c.change == "delete" or c.walk_in
                else tuple(blocking_keys(c.record)),
            )
            for c in commands
            if isinstance(c, ApplySourceChange)
        ],
        CANDIDATE_LIMIT,
    )


def apply_source_change(uow: UnitOfWork, command: ApplySourceChange, ctx: PublishContext) -> Outcome:
    """Apply one source record's change: match, attach, re-run survivorship, queue the events."""
    source, ref = command.source, command.source_record_id
    record = command.record
    opened = uow.open_source_change(change_locks(command), command.message_id, source, ref)

    if opened.processed:
        uow.count_outcome(source, "duplicate")
        return "duplicate"
    if command.walk_in:
        # A walk-in sale belongs to CASH; it adds no source reference and publishes nothing.
        uow.mark_processed(command.message_id, source, "applied")
        uow.count_outcome(source, "applied")
        return "applied"

    existing = opened.existing
    if existing is not None and existing.last_occurred_at > command.occurred_at:
        uow.mark_processed(command.message_id, source, "stale")
        uow.count_outcome(source, "stale")
        return "stale"

    cause = {"message_id": command.message_id, "source": source, "source_record_id": ref}
    if command.change == "delete":
        _detach(uow, command, existing, ctx, cause)
    else:
        assert record is not None
        current = opened.current_golden_id
        if current is None and existing is not None and existing.detached and existing.golden_id is not None:
            current = _left_behind(uow, existing.golden_id)
        _upsert(uow, command, record, current, ctx, cause)
    uow.mark_processed(command.message_id, source, "applied")
    uow.count_outcome(source, "applied")
    return "applied"


def _left_behind(uow: UnitOfWork, golden_id: str) -> str | None:
    """The golden record a deleted source record left, while nothing else holds it: a record sent again
    after its delete returns to its own golden id (reactivated) instead of starting a second customer."""
    golden = uow.golden(golden_id)
    return golden_id if golden is not None and golden.state == "deactivated" else None


def _detach(
    uow: UnitOfWork,
    command: ApplySourceChange,
    existing: StoredSourceRecord | None,
    ctx: PublishContext,
    cause: dict[str, str],
) -> None:
    """Detach a deleted source record; its golden record stays, deactivated if nothing else holds it."""
    golden_id = existing.golden_id if existing is not None and not existing.detached else None
    uow.save_source_record(
        SourceRecordState(
            source=command.source,
            source_record_id=command.source_record_id,
            golden_id=existing.golden_id if existing is not None else None,
            detached=True,
            occurred_at=command.occurred_at,
            message_id=command.message_id,
            parent_source_record_id=None,
            record=existing.record if existing is not None else {},
            payload=None,
            issues=[],
        )
    )
    uow.remove_match_keys(command.source, command.source_record_id)
    if golden_id is not None:
        refresh_golden(uow, uow.resolve(golden_id), ctx, cause)


#: At most this many candidate golden records, those sharing the most blocking keys, are scored per message.
CANDIDATE_LIMIT = 20


@dataclass(frozen=True)
class Candidates:
    """A record's candidate golden records, their source records' values, and what else scoring reads."""

    records: dict[str, list[CleanRecord]]
    context: MatchContext

    def decide(self, record: CleanRecord, current: str | None, model: MatchModel) -> Decision:
        """Decide the record's match among these candidates, honouring what stewards marked distinct."""
        return decide_match(
            record,
            current,
            self.records,
            model,
            self.context.distinct_from_current,
            self.context.distinct_pairs,
        )


def candidate_records(uow: UnitOfWork, record: CleanRecord, current: str | None) -> Candidates:
    """Find candidate golden records through the blocking-key index and load their source records."""
    found = set(uow.golden_ids_by_keys(blocking_keys(record), CANDIDATE_LIMIT)) - {WALK_IN_GOLDEN_ID}
    if current is not None:
        found.discard(current)
    context = uow.match_context(found, current)
    records = {
        golden_id: [
            record_from_json(s.record)
            for s in stored
            if (s.source, s.source_record_id) != (record.source, record.source_record_id)
        ]
        for golden_id, stored in context.attached.items()
    }
    return Candidates({golden_id: found for golden_id, found in records.items() if found}, context)


def _upsert(
    uow: UnitOfWork,
    command: ApplySourceChange,
    record: CleanRecord,
    current: str | None,
    ctx: PublishContext,
    cause: dict[str, str],
) -> None:
    found = candidate_records(uow, record, current)
    decision = found.decide(record, current, ctx.model)
    golden_id = decision.golden_id
    if golden_id is None:
        golden_id = uow.next_golden_id()
        uow.create_golden(golden_id)
    attached = uow.attach_source_record(
        SourceRecordState(
            source=command.source,
            source_record_id=command.source_record_id,
            golden_id=golden_id,
            detached=False,
            occurred_at=command.occurred_at,
            message_id=command.message_id,
            parent_source_record_id=record.parent_source_record_id,
            record=record_to_json(record),
            payload=command.payload,
            issues=[{"code": i.code, "path": i.path, "message": i.message} for i in record.issues],
        ),
        blocking_keys(record),
    )
    alerted = _alert_on_blacklist_match(uow, command, record, golden_id, found, decision)
    uow.add_decision(
        source=command.source,
        source_record_id=command.source_record_id,
        message_id=command.message_id,
        outcome=decision.outcome,
        golden_id=golden_id,
        explanation=decision.explanation(),
    )
    if decision.merge:
        merge_golden_records(uow, golden_id, decision.merge, ctx, cause)
    else:
        refresh_golden(uow, golden_id, ctx, cause)
    if decision.review_against is not None:
        uow.open_review(
            source=command.source,
            source_record_id=command.source_record_id,
            golden_id=golden_id,
            candidate_golden_id=decision.review_against.golden_id,
            probability=decision.review_against.score.probability,
            explanation=decision.explanation(),
        )
    if attached.parked_accounts or alerted:  # survivorship alone did not change what the credit status reads
        refresh_credit_status(uow, uow.resolve(golden_id), ctx)
    # A child that arrived before its parent names it by source reference: resolve it now.
    for child in attached.children:
        resolved = uow.resolve(child)
        if resolved != golden_id:
            refresh_golden(uow, resolved, ctx, cause)


#: Blocking-key kinds that identify a customer on their own; sharing one with a blacklisted customer alerts.
IDENTIFYING_KINDS = frozenset({"identifier", "email", "phone"})


def _alert_on_blacklist_match(
    uow: UnitOfWork,
    command: ApplySourceChange,
    record: CleanRecord,
    golden_id: str,
    found: Candidates,
    decision: Decision,
) -> bool:
    """Alert when a record links to a blacklisted customer, or is queued for review against or shares an
    identifier with one it was not linked to (then its credit status is held until a steward decides)."""
    candidates = found.records
    # the linked golden record is the current one, a candidate, or new (and so not blacklisted)
    blacklisted = found.context.blacklisted & (set(candidates) | {golden_id})
    if not blacklisted:
        return False
    alerted = False
    if golden_id in blacklisted:
        # a blacklisted customer is back through a source: it stays blacklisted (held); a steward hears of it
        uow.raise_alert(
            golden_id,
            "blacklisted_customer_matched",
            {
                "source": command.source,
                "source_record_id": command.source_record_id,
                "outcome": decision.outcome,
            },
        )
        blacklisted.discard(golden_id)
        alerted = True
    own = {k for k in blocking_keys(record) if k[0] in IDENTIFYING_KINDS}
    review = decision.review_against.golden_id if decision.review_against is not None else None
    for suspect in sorted(blacklisted):
        shared = own & {k for r in candidates[suspect] for k in blocking_keys(r)}
        if suspect == review or shared:
            uow.raise_alert(
                golden_id,
                "suspected_blacklist_match",
                {
                    "golden_id": suspect,
                    "source": command.source,
                    "source_record_id": command.source_record_id,
                    "shared": sorted(kind for kind, _ in shared),
                    "review": suspect == review,
                },
            )
            alerted = True
    return alerted


#: The most of a rejected message's bytes its dead-letter event carries (base64 adds a third): the event must
#: stay under what the broker takes, about 1 MiB by default.
DEAD_LETTER_VALUE_BYTES = 256 * 1024


def dead_letter_message(
    uow: UnitOfWork, message: InboundMessage, rejection: Rejection, source: str, ctx: PublishContext
) -> Outcome:
    """Store a rejected message and queue it for the dead-letter topic, with every field error.

    A dead letter is not marked processed (so it can be replayed after a fix), so a redelivery of the
    same broker message is recognised by its position and bytes instead, and counted a duplicate; so
    is the same key and bytes published again while its dead letter is open (a source resending, or a
    demo feed published at every start), which would otherwise give a steward one letter per copy.
    """
    content = hashlib.sha256(message.value).hexdigest()  # two workers dead-letter one content in turn
    uow.lock(
        [
            f"position:{message.topic}:{message.partition}:{message.offset}",
            f"content:{message.topic}:{content}",
        ]
    )
    if uow.has_dead_letter(message.topic, message.partition, message.offset, message.key, message.value):
        uow.count_outcome(source, "duplicate")
        return "duplicate"
    shown, note = message.value, ""
    if len(shown) > DEAD_LETTER_VALUE_BYTES:  # a message too large for the hub is too large for the topic
        shown = shown[:DEAD_LETTER_VALUE_BYTES]
        note = (
            f" (value_b64 holds its first {DEAD_LETTER_VALUE_BYTES:,} of {len(message.value):,} bytes;"
            " the whole message is stored with the dead letter for replay)"
        )
    event = DeadLetter.model_validate(
        {
            "error_code": rejection.error_code,
            "message": rejection.message + note,
            "errors": [{"path": e.path, "message": e.message} for e in rejection.errors],
            "source_topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "key_b64": None if message.key is None else base64.b64encode(message.key).decode(),
            "value_b64": base64.b64encode(shown).decode(),
            "message_id": rejection.message_id,
            "dead_lettered_at": ctx.now,
        }
    ).model_dump(mode="json")
    uow.add_dead_letter(
        {
            "error_code": rejection.error_code,
            "message": rejection.message,
            "errors": event["errors"],
            "source_topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "key": message.key,
            "value": message.value,
            "message_id": rejection.message_id,
            "dead_lettered_at": ctx.now,
        }
    )
    uow.add_outbox(ctx.deadletter_topic, message.key, event)
    uow.count_outcome(source, "dead_lettered")
    return "dead_lettered"
