"""Steward use cases: decide a match review; every action is audited with actor, reason, before, after."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from hub.domain.errors import InvalidValue
from hub.domain.overrides import PARSERS, parse_override
from hub.service.credit import (
    SUSPECTED_BLACKLIST_MATCH,
    credit_terms,
    currency_change_needs_second_approver,
    needs_second_approver,
    refresh_credit_status,
)
from hub.service.golden import PublishContext, refresh_golden
from hub.service.merging import UnmergeRefused, merge_golden_records, unmerge_source_records
from hub.store.uow import WALK_IN_GOLDEN_ID, UnitOfWork


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
    seen_versions: dict[str, int | None] | None = None,
) -> dict[str, Any]:
    """Resolve an open review: merge the two golden records (older survives) or keep them apart for good.

    `seen_versions` are the versions of the review's two golden records (`record`, `candidate`) the
    steward decided on, where given: a decision on a view that has changed since is refused.
    """
    row = uow.review_for_update(review_id)
    if row is None:
        raise StewardActionRefused("review_not_found", f"no match review {review_id}", 404)
    if row.status != "open":
        raise StewardActionRefused("review_closed", f"review {review_id} is already {row.status}")
    seen = seen_versions or {}
    for side, golden_id in (("record", row.golden_id), ("candidate", row.candidate_golden_id)):
        golden = uow.golden(golden_id, for_update=True)
        if golden is None or golden.state != "active":
            # deciding would merge records the steward never saw side by side (a survivor's other sources)
            raise StewardActionRefused(
                "review_outdated",
                f"the review's {side} {golden_id} is {golden.state if golden else 'gone'}"
                + (f" (merged into {uow.resolve(golden_id)})" if golden and golden.survivor_id else "")
                + ": the review no longer describes two customers; search for them and merge by hand",
            )
        if seen.get(side) is not None and golden.version != seen[side]:
            raise StewardActionRefused(
                "version_conflict",
                f"the review's {side} {golden_id} is at version {golden.version}, not {seen[side]}:"
                " reload the review and decide again",
            )
    first, second = row.golden_id, row.candidate_golden_id  # both active, so each is its own survivor
    survivor, retired = sorted((first, second), key=lambda g: (len(g), g))
    cause = {"steward": actor, "action": f"review.{decision}", "review_id": review_id, "reason": reason}
    if decision == "merge":
        merge_golden_records(uow, survivor, [retired], ctx, cause)
        status = "merged"
    else:
        uow.mark_distinct(first, second, actor)
        status = "distinct"
    uow.close_review(review_id, status)
    # the steward has now looked at the pair: a suspected blacklist match between them no longer holds
    for mine, other in ((first, second), (second, first)):
        uow.resolve_alerts(mine, SUSPECTED_BLACKLIST_MATCH, resolved_by=actor, about=other)
    for golden_id in {uow.resolve(first), uow.resolve(second)}:
        refresh_credit_status(uow, golden_id, ctx)
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


def _walk_in_refused() -> StewardActionRefused:
    return StewardActionRefused(
        "walk_in_customer",
        f"{WALK_IN_GOLDEN_ID} stands for anonymous walk-in sales: it is never merged, overridden,"
        " blacklisted or held, and publishes nothing",
    )


def _check_version(uow: UnitOfWork, golden_id: str, expected: int) -> None:
    if golden_id == WALK_IN_GOLDEN_ID:
        raise _walk_in_refused()
    golden = uow.golden(golden_id, for_update=True)
    if golden is None:
        raise StewardActionRefused("customer_not_found", f"no golden record {golden_id}", 404)
    if golden.state != "active":
        raise StewardActionRefused("not_active", f"{golden_id} is {golden.state}, not active")
    if golden.version != expected:
        raise StewardActionRefused(
            "version_conflict",
            f"{golden_id} is at version {golden.version}, not {expected}; reload and retry",
        )


def _audited(
    uow: UnitOfWork, golden_id: str, action: str, *, actor: str, reason: str, before: Any, **outcome: Any
) -> dict[str, Any]:
    """Write the audit entry of a steward change and return its result, with the record's new version."""
    after = uow.golden(golden_id)
    result = {"golden_id": golden_id, **outcome, "version": after.version if after else None}
    uow.audit(actor=actor, action=action, target=golden_id, reason=reason, before=before, after=result)
    return result


def merge_by_hand(
    uow: UnitOfWork,
    golden_id: str,
    other_ids: list[str],
    *,
    expected_version: int,
    reason: str,
    actor: str,
    ctx: PublishContext,
) -> dict[str, Any]:
    """Merge other golden records into this one, which survives, as a steward decided."""
    _check_version(uow, golden_id, expected_version)
    others = sorted(set(other_ids) - {golden_id})
    if not others:
        raise StewardActionRefused("nothing_to_merge", "name at least one other golden record", 422)
    for other in others:
        if other == WALK_IN_GOLDEN_ID:
            raise _walk_in_refused()
        found = uow.golden(other)
        if found is None:
            raise StewardActionRefused("customer_not_found", f"no golden record {other}", 404)
        if found.survivor_id is not None:
            # merging its survivor instead would merge a record the steward did not name
            raise StewardActionRefused(
                "not_mergeable", f"{other} was merged into {uow.resolve(other)}: name that one", 422
            )
        if found.state != "active":
            raise StewardActionRefused("not_mergeable", f"{other} is not an active golden record", 422)
    cause = {"steward": actor, "action": "merge", "reason": reason}
    merge_golden_records(uow, golden_id, others, ctx, cause)
    return _audited(
        uow,
        golden_id,
        "merge",
        actor=actor,
        reason=reason,
        before={"version": expected_version, "other_ids": others},
        merged_ids=others,
    )


def unmerge_by_hand(
    uow: UnitOfWork,
    golden_id: str,
    source_refs: list[tuple[str, str]],
    *,
    expected_version: int,
    reason: str,
    actor: str,
    ctx: PublishContext,
) -> dict[str, Any]:
    """Split source records off into a new golden record, as a steward decided."""
    _check_version(uow, golden_id, expected_version)
    cause = {"steward": actor, "action": "unmerge", "reason": reason}
    try:
        new_id = unmerge_source_records(uow, golden_id, source_refs, ctx, cause, actor=actor)
    except UnmergeRefused as refused:
        raise StewardActionRefused(refused.code, refused.message, 422) from refused
    return _audited(
        uow,
        golden_id,
        "unmerge",
        actor=actor,
        reason=reason,
        before={"version": expected_version, "source_refs": [list(r) for r in source_refs]},
        split_into=new_id,
    )


def override_attribute(
    uow: UnitOfWork,
    golden_id: str,
    attribute: str,
    value: Any,
    *,
    expected_version: int,
    reason: str,
    actor: str,
    ctx: PublishContext,
) -> dict[str, Any]:
    """Set a steward's value for one attribute; it wins over every source until it is removed."""
    _check_version(uow, golden_id, expected_version)
    try:
        parsed = parse_override(attribute, value)
    except InvalidValue as invalid:
        raise StewardActionRefused(invalid.code, invalid.message, 422) from invalid
    if attribute == "credit.limit" and needs_second_approver(uow, golden_id, parsed, ctx):
        raise StewardActionRefused(
            "approval_required",
            f"raising the credit limit of {golden_id} to {value} needs a second person: "
            f"POST /customers/{golden_id}/credit-limit-proposals",
            409,
        )
    if attribute == "credit.currency" and currency_change_needs_second_approver(uow, golden_id, parsed, ctx):
        raise StewardActionRefused(
            "approval_required",
            f"moving the credit limit of {golden_id} to {value} makes it another amount, more than one"
            " person may grant: correct the currency in the source system the limit comes from",
            409,
        )
    if attribute == "credit.check_limit" and parsed is False and _limit_checked(uow, golden_id):
        raise StewardActionRefused(
            "approval_required",
            f"turning the limit check of {golden_id} off lifts its credit limit altogether, more than one"
            " person may grant: propose a higher limit, or change it in the source system",
            409,
        )
    before = next((o.value for o in uow.overrides(golden_id) if o.attribute == attribute), None)
    uow.set_override(golden_id, attribute, value, actor=actor, reason=reason)
    cause = {"steward": actor, "action": "override.set", "attribute": attribute, "reason": reason}
    refresh_golden(uow, golden_id, ctx, cause)
    return _audited(
        uow,
        golden_id,
        "override.set",
        actor=actor,
        reason=reason,
        before={"version": expected_version, "attribute": attribute, "override": before},
        attribute=attribute,
        override=value,
    )


def remove_override(
    uow: UnitOfWork,
    golden_id: str,
    attribute: str,
    *,
    expected_version: int,
    reason: str,
    actor: str,
    ctx: PublishContext,
) -> dict[str, Any]:
    """Remove a steward's value, so that survivorship chooses the attribute from the sources again."""
    _check_version(uow, golden_id, expected_version)
    if attribute not in PARSERS:
        raise StewardActionRefused(
            "attribute_not_overridable",
            f"{attribute!r} cannot be overridden; one of: {', '.join(sorted(PARSERS))}",
            422,
        )
    before = next((o.value for o in uow.overrides(golden_id) if o.attribute == attribute), None)
    if not uow.remove_override(golden_id, attribute):
        raise StewardActionRefused("override_not_found", f"{golden_id} has no override of {attribute}", 404)
    cause = {"steward": actor, "action": "override.remove", "attribute": attribute, "reason": reason}
    refresh_golden(uow, golden_id, ctx, cause)
    return _audited(
        uow,
        golden_id,
        "override.remove",
        actor=actor,
        reason=reason,
        before={"version": expected_version, "attribute": attribute, "override": before},
        attribute=attribute,
        override=None,
    )


def set_blacklisted(
    uow: UnitOfWork,
    golden_id: str,
    blacklisted: bool,
    *,
    expected_version: int,
    reason: str,
    actor: str,
    ctx: PublishContext,
) -> dict[str, Any]:
    """Put a customer on the blacklist or take it off; the credit status follows."""
    _check_version(uow, golden_id, expected_version)
    golden = uow.golden(golden_id)
    was = bool(golden and golden.customer and golden.customer.get("blacklisted"))
    if was == blacklisted:
        state = "on" if was else "not on"
        raise StewardActionRefused("blacklist_unchanged", f"{golden_id} is already {state} the blacklist")
    action = "blacklist.add" if blacklisted else "blacklist.remove"
    cause = {"steward": actor, "action": action, "reason": reason}
    refresh_golden(uow, golden_id, ctx, cause, event_type="customer.updated", blacklisted=blacklisted)
    return _audited(
        uow,
        golden_id,
        action,
        actor=actor,
        reason=reason,
        before={"version": expected_version, "blacklisted": was},
        blacklisted=blacklisted,
    )


def resolve_alert(
    uow: UnitOfWork, golden_id: str, alert_id: int, *, reason: str, actor: str, ctx: PublishContext
) -> dict[str, Any]:
    """Close an alert a steward has looked into; a suspected blacklist match stops holding the customer."""
    if not uow.resolve_alert(alert_id, golden_id, actor):
        raise StewardActionRefused("alert_not_found", f"{golden_id} has no open alert {alert_id}", 404)
    refresh_credit_status(uow, golden_id, ctx)
    result = {"golden_id": golden_id, "alert_id": alert_id, "status": "resolved"}
    uow.audit(
        actor=actor,
        action="alert.resolve",
        target=golden_id,
        reason=reason,
        before={"alert_id": alert_id, "status": "open"},
        after=result,
    )
    return result


def propose_credit_limit(
    uow: UnitOfWork,
    golden_id: str,
    credit_limit: str,
    *,
    expected_version: int,
    reason: str,
    actor: str,
    ctx: PublishContext,
) -> dict[str, Any]:
    """Propose a credit limit: applied at once within the threshold, else pending a second person."""
    _check_version(uow, golden_id, expected_version)
    try:
        limit = parse_override("credit.limit", credit_limit)
    except InvalidValue as invalid:
        raise StewardActionRefused(invalid.code, invalid.message, 422) from invalid
    credit = credit_terms(uow, golden_id)
    if not credit.get("currency"):
        raise StewardActionRefused(
            "no_credit_currency", f"{golden_id} has no credit currency; override credit.currency first", 422
        )
    if not needs_second_approver(uow, golden_id, limit, ctx):
        return override_attribute(
            uow,
            golden_id,
            "credit.limit",
            credit_limit,
            expected_version=expected_version,
            reason=reason,
            actor=actor,
            ctx=ctx,
        ) | {"status": "applied"}
    proposal_id = uow.add_proposal(
        {
            "golden_id": golden_id,
            "credit_limit": limit,
            "currency": credit["currency"],
            "previous_limit": credit.get("limit"),
            "proposed_by": actor,
            "reason": reason,
        }
    )
    result = {
        "proposal_id": proposal_id,
        "golden_id": golden_id,
        "status": "pending",
        "credit_limit": credit_limit,
    }
    uow.audit(
        actor=actor,
        action="credit_limit.propose",
        target=golden_id,
        reason=reason,
        before={"version": expected_version, "credit_limit": credit.get("limit")},
        after=result,
    )
    return result


def _limit_checked(uow: UnitOfWork, golden_id: str) -> bool:
    credit = credit_terms(uow, golden_id)
    return bool(credit.get("check_limit")) and credit.get("limit") is not None


def _check_proposal_still_holds(proposal: Any, golden_id: str, credit: dict[str, Any]) -> None:
    """Refuse to approve a raise whose basis moved: the approver agreed to that change of that limit."""
    again = "reject it and propose again"
    if golden_id != proposal.golden_id:
        raise StewardActionRefused(
            "customer_merged",
            f"proposal {proposal.id} was made for {proposal.golden_id}, since merged into {golden_id}, whose"
            f" credit limit it did not consider: {again} on {golden_id}",
        )
    if credit.get("currency") != proposal.currency:
        raise StewardActionRefused(
            "currency_changed",
            f"proposal {proposal.id} is for {proposal.credit_limit:.2f} {proposal.currency}, but the credit"
            f" currency of {golden_id} is now {credit.get('currency')}: {again}",
        )
    current = None if credit.get("limit") is None else Decimal(credit["limit"])
    if current != proposal.previous_limit:
        before = "none" if proposal.previous_limit is None else f"{proposal.previous_limit:.2f}"
        raise StewardActionRefused(
            "limit_changed",
            f"proposal {proposal.id} raises the credit limit of {golden_id} from {before}, but it is now"
            f" {'none' if current is None else f'{current:.2f}'}: {again}",
        )


def decide_credit_limit(
    uow: UnitOfWork,
    proposal_id: int,
    approve: bool,
    *,
    reason: str,
    actor: str,
    ctx: PublishContext,
) -> dict[str, Any]:
    """Approve (apply) or reject a pending credit-limit proposal; never by the person who proposed it."""
    proposal = uow.proposal_for_update(proposal_id)
    if proposal is None:
        raise StewardActionRefused("proposal_not_found", f"no credit-limit proposal {proposal_id}", 404)
    if proposal.status != "pending":
        raise StewardActionRefused("proposal_decided", f"proposal {proposal_id} is already {proposal.status}")
    if proposal.proposed_by == actor:
        raise StewardActionRefused(
            "same_person", "a credit-limit raise needs a second person: you proposed this one", 403
        )
    uow.golden(proposal.golden_id, for_update=True)  # a merge of it in flight finishes first
    golden_id = uow.resolve(proposal.golden_id)
    status = "approved" if approve else "rejected"
    credit = credit_terms(uow, golden_id, for_update=True)
    if approve:
        _check_proposal_still_holds(proposal, golden_id, credit)
    if approve:
        value = f"{proposal.credit_limit:.2f}"
        uow.set_override(golden_id, "credit.limit", value, actor=actor, reason=proposal.reason)
        cause = {
            "steward": actor,
            "action": "credit_limit.approve",
            "proposal_id": proposal_id,
            "reason": reason,
        }
        refresh_golden(uow, golden_id, ctx, cause)
    uow.decide_proposal(proposal_id, status, actor)
    result = {
        "proposal_id": proposal_id,
        "golden_id": golden_id,
        "status": status,
        "credit_limit": f"{proposal.credit_limit:.2f}",
        "proposed_by": proposal.proposed_by,
    }
    uow.audit(
        actor=actor,
        action=f"credit_limit.{'approve' if approve else 'reject'}",
        target=golden_id,
        reason=reason,
        before={
            "status": "pending",
            "credit_limit": None if proposal.previous_limit is None else str(proposal.previous_limit),
        },
        after=result,
    )
    return result
