"""Credit status use cases: AR exposure in, a credit-status event out whenever the status changes.

The status event is queued in the same transaction as the customer event that changed it, after it,
so the relay publishes both in order.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from contracts.outbound import CreditStatusEvent
from hub.domain.credit import RAISE_WINDOW, Exposure, credit_status, raise_needs_approval
from hub.service.intake import FieldError, RecordExposure, Rejection
from hub.store.uow import WALK_IN_GOLDEN_ID, CreditInputs, StoredGoldenRecord, UnitOfWork

if TYPE_CHECKING:
    from hub.service.golden import PublishContext
    from hub.service.source_changes import Outcome

SUSPECTED_BLACKLIST_MATCH = "suspected_blacklist_match"
EXPOSURE_UNATTRIBUTED = "exposure_unattributed"


def refresh_credit_status(
    uow: UnitOfWork,
    golden_id: str,
    ctx: PublishContext,
    *,
    golden: StoredGoldenRecord | None = None,
    inputs: CreditInputs | None = None,
) -> bool:
    """Recompute a golden record's credit status; queue an event if it differs from the last one.

    `golden` is the record's row when the caller has just written it, `inputs` its credit inputs when
    the caller read them with it (each saves a read).
    """
    if golden_id == WALK_IN_GOLDEN_ID:
        return False
    if golden is None:
        golden = uow.golden(golden_id)
    if golden is None:
        return False
    if inputs is None:
        inputs = uow.credit_inputs(golden_id, SUSPECTED_BLACKLIST_MATCH)
    exposures = [
        Exposure(account, Decimal(outstanding), None if overdue is None else Decimal(overdue), currency)
        for account, outstanding, overdue, currency in inputs.exposures
    ]
    status = credit_status(
        state=golden.state,
        customer=golden.customer,
        missing_master_data=(golden.data_quality or {}).get("missing", []),
        exposures=exposures,
        suspected_blacklist_match=inputs.suspected_blacklist_match,
        survivor_id=golden.survivor_id,
    ).as_document()
    previous = inputs.previous_version
    if previous is not None and inputs.previous_status == status:
        return False
    if previous is None and golden.state != "active":
        return False  # never published, nothing downstream to correct
    version = 1 if previous is None else previous + 1
    event = CreditStatusEvent.model_validate(
        {
            "event_id": str(uuid.uuid4()),
            "golden_id": golden_id,
            "version": version,
            "as_of": ctx.now,
            **status,
        }
    ).model_dump(mode="json")
    uow.save_credit_status(golden_id, version, status, event=event, topic=ctx.credit_topic)
    return True


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def current_credit_status(uow: UnitOfWork, golden_id: str) -> dict[str, Any] | None:
    """Return the last published credit status of a golden record, with its version."""
    row = uow.credit_status(golden_id)
    return None if row is None else {"version": row.version, **row.status}


def exposure_locks(command: RecordExposure) -> list[str]:
    """The advisory locks of an AR message: its account, its message id, and the source record it names.

    The source record's lock is the one its own changes take: a customer change and an exposure naming it
    never run side by side, so the exposure is either booked on the record the change stored, or parked
    where the change finds it, not lost between two transactions that do not see each other.
    """
    locks = [f"account:{command.account_id}", f"message:{command.message_id}"]
    if command.named_source is not None:
        locks.append(f"source:{command.named_source}:{command.named_source_record_id}")
    return locks


def _lock_named_customer(uow: UnitOfWork, command: RecordExposure) -> str | None:
    """Find the golden record the exposure belongs to and lock it, as a merge locks the records it retires.

    A merge committed while this waited for the lock may have retired the record, or moved the named
    source record: look again after each lock until the record found is the one locked.
    """
    locked: str | None = None
    while True:
        if command.named_golden_id is not None:
            found: str | None = command.named_golden_id
        else:
            assert command.named_source is not None and command.named_source_record_id is not None
            found = uow.golden_id_of(command.named_source, command.named_source_record_id)
        golden_id = uow.resolve(found) if found else None
        if golden_id is None or golden_id == locked:
            return golden_id
        uow.golden(golden_id, for_update=True)
        locked = golden_id


def apply_exposure(uow: UnitOfWork, command: RecordExposure, ctx: PublishContext) -> Outcome | Rejection:
    """Record what an AR account owes and re-evaluate its customer's credit status.

    AR names the customer by golden id (followed to its survivor) or by source reference; exposure
    naming a source record the hub has not seen yet is parked and booked when the record arrives.
    A message older (by `as_of`) than the one applied is stale.
    """
    uow.lock(exposure_locks(command))
    if uow.is_processed(command.message_id):
        uow.count_outcome("ar", "duplicate")
        return "duplicate"
    existing = uow.exposure(command.account_id, for_update=True)
    when = command.as_of or command.occurred_at
    if existing is not None and existing.as_of > when:
        uow.mark_processed(command.message_id, "ar", "stale")
        uow.count_outcome("ar", "stale")
        return "stale"
    previous_golden = existing.golden_id if existing is not None else None

    if command.change == "delete":
        uow.close_exposure(command.account_id, when, command.message_id)
        golden_id = None
    else:
        named = None if command.named_golden_id is None else uow.golden(command.named_golden_id)
        if command.named_golden_id is not None and (named is None or named.state == "erased"):
            what = "which the hub does not know" if named is None else "whose customer was erased"
            return Rejection(
                "unidentifiable",
                f"AR names golden record {command.named_golden_id}, {what}",
                (
                    FieldError(
                        "payload.customer.golden_id", "no such golden record" if named is None else "erased"
                    ),
                ),
                command.message_id,
            )
        golden_id = _lock_named_customer(uow, command)
        uow.save_exposure(
            {
                "account_id": command.account_id,
                "golden_id": golden_id,
                "named_golden_id": command.named_golden_id,
                "named_source": command.named_source,
                "named_source_record_id": command.named_source_record_id,
                "outstanding": command.outstanding,
                "overdue": command.overdue,
                "currency": command.currency,
                "as_of": when,
                "message_id": command.message_id,
            }
        )
    for affected in {g for g in (previous_golden, golden_id) if g is not None}:
        refresh_credit_status(uow, uow.resolve(affected), ctx)
    uow.mark_processed(command.message_id, "ar", "applied")
    uow.count_outcome("ar", "applied")
    return "applied"


def reattribute_exposure_on_unmerge(
    uow: UnitOfWork, golden_id: str, new_id: str, split_refs: set[tuple[str, str]]
) -> None:
    """After an unmerge, move the accounts AR named by a split-off source reference to the new record.

    Accounts AR named by golden id cannot be told apart: they stay on the survivor, flagged.
    """
    moved, unattributed = [], []
    for row in uow.exposures_of(golden_id):
        if (row.named_source, row.named_source_record_id) in split_refs:
            moved.append(row.account_id)
        elif row.named_source is None:
            unattributed.append(row.account_id)
    if moved:
        uow.move_exposures(golden_id, new_id, moved)
    if unattributed:
        uow.raise_alert(
            golden_id, EXPOSURE_UNATTRIBUTED, {"golden_id": new_id, "accounts": sorted(unattributed)}
        )


def credit_terms(uow: UnitOfWork, golden_id: str, *, for_update: bool = False) -> dict[str, Any]:
    """The credit block of a golden record's current snapshot; {} when it has none."""
    golden = uow.golden(golden_id, for_update=for_update)
    credit: dict[str, Any] = ((golden.customer if golden else None) or {}).get("credit") or {}
    return credit


def needs_second_approver(uow: UnitOfWork, golden_id: str, proposed: Decimal, ctx: PublishContext) -> bool:
    """Tell whether setting this credit limit raises it by more than the currency's threshold.

    The raise counts from the lowest limit of the last RAISE_WINDOW (since the last approval), so four
    raises of 50,000 in an afternoon are one raise of 200,000.
    """
    credit = credit_terms(uow, golden_id)
    current = Decimal(credit["limit"]) if credit.get("limit") is not None else None
    currency = credit.get("currency") or ""
    if current is not None and currency:
        lowest = uow.lowest_credit_limit(golden_id, currency, RAISE_WINDOW)
        current = current if lowest is None else min(current, lowest)
    return raise_needs_approval(current, proposed, currency, ctx.approval_thresholds)


def currency_change_needs_second_approver(
    uow: UnitOfWork, golden_id: str, currency: str, ctx: PublishContext
) -> bool:
    """Tell whether moving a credit limit to another currency needs a second person.

    The same figure in another currency is another amount (255,000 MYR and 255,000 KWD are not close), so the
    change counts as raising the limit from nothing to its figure in the new currency.
    """
    credit = credit_terms(uow, golden_id)
    if credit.get("limit") is None or credit.get("currency") in (None, currency):
        return False
    return raise_needs_approval(None, Decimal(credit["limit"]), currency, ctx.approval_thresholds)
