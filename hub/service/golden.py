"""Render golden records as the canonical customer event of SPEC 6, and write their new versions."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from contracts.outbound import CustomerEvent
from hub.domain.model import Address, Contact, TaxId
from hub.domain.overrides import Override, apply_overrides
from hub.domain.scoring import MatchModel
from hub.domain.survivorship import GoldenAttributes, SurvivorshipRules, credit_as_dict, survive
from hub.service.credit import SUSPECTED_BLACKLIST_MATCH, refresh_credit_status
from hub.store.codec import record_from_json
from hub.store.uow import StoredGoldenRecord, UnitOfWork


@dataclass(frozen=True)
class PublishContext:
    """What a use case needs besides the unit of work: topics, rules and the time."""

    customer_topic: str
    deadletter_topic: str
    rules: SurvivorshipRules
    model: MatchModel
    now: datetime
    credit_topic: str = "mdm.customer-credit-status.v1"
    #: per currency, the credit-limit raise above which a second person must approve
    approval_thresholds: Mapping[str, Decimal] = field(default_factory=dict)


def _tax_id(t: TaxId) -> dict[str, Any]:
    return {"scheme": t.scheme, "value": t.value, "valid": t.valid}


def _address(a: Address) -> dict[str, Any]:
    return {
        "kind": a.kind,
        "line1": a.line1,
        "line2": a.line2,
        "city": a.city,
        "state": a.state,
        "postal_code": a.postal_code,
        "country": a.country,
    }


def _contact(c: Contact) -> dict[str, Any]:
    return {"name": c.name, "title": c.title, "email": c.email, "phone": c.phone, "primary": c.primary}


def render_customer(
    attributes: GoldenAttributes, *, parent_golden_id: str | None, blacklisted: bool
) -> dict[str, Any]:
    """Return the `customer` snapshot: every field of the contract, null or [] when unknown."""
    v = attributes.values
    dob = v.get("date_of_birth")
    return {
        "party_type": v["party_type"],
        "status": v["status"],
        "legal_name": v.get("legal_name"),
        "trading_name": v.get("trading_name"),
        "legal_form": v.get("legal_form"),
        "first_name": v.get("first_name"),
        "last_name": v.get("last_name"),
        "date_of_birth": dob.isoformat() if dob else None,
        "customer_type": v.get("customer_type"),
        "category": v.get("category"),
        "tax_ids": [_tax_id(t) for t in v.get("tax_ids", ())],
        "emails": list(v.get("emails", ())),
        "phones": list(v.get("phones", ())),
        "addresses": [_address(a) for a in v.get("addresses", ())],
        "contacts": [_contact(c) for c in v.get("contacts", ())],
        "parent_golden_id": parent_golden_id,
        "also_supplier_id": v.get("also_supplier_id"),
        "credit": credit_as_dict(v.get("credit")),
        "blacklisted": blacklisted,
        "correspondence_mode": v.get("correspondence_mode"),
        "language": v.get("language"),
        "marketing_opt_in": v.get("marketing_opt_in"),
        "loyalty_cards": list(v.get("loyalty_cards", ())),
        "custom_fields": dict(v.get("custom_fields", {})),
    }


def render_lineage(attributes: GoldenAttributes) -> dict[str, Any]:
    """Return the lineage map of the event: attribute path to the source record and time it came from."""
    return {
        name: {"source": entry.source, "source_record_id": entry.source_record_id, "at": entry.at.isoformat()}
        for name, entry in attributes.lineage.items()
    }


def render_data_quality(attributes: GoldenAttributes) -> dict[str, Any]:
    """Return completeness and the validation findings of every source record."""
    return {
        "complete": attributes.complete,
        "missing": list(attributes.missing),
        "issues": [
            {"code": i.code, "path": i.path, "source": source, "source_record_id": ref, "message": i.message}
            for i, source, ref in attributes.issues
        ],
    }


def customer_event(
    golden: StoredGoldenRecord, event_type: str, occurred_at: datetime, **extra: Any
) -> dict[str, Any]:
    """Build a customer event from a golden record's state, validated against the outbound contract."""
    event = CustomerEvent.model_validate(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "golden_id": golden.golden_id,
            "version": golden.version,
            "occurred_at": occurred_at,
            "customer": golden.customer,
            "source_refs": golden.source_refs,
            "lineage": golden.lineage,
            "data_quality": golden.data_quality,
            **extra,
        }
    )
    document: dict[str, Any] = event.model_dump(mode="json", exclude_none=False)
    return document


def refresh_golden(
    uow: UnitOfWork,
    golden_id: str,
    ctx: PublishContext,
    cause: dict[str, Any],
    *,
    event_type: str | None = None,
    extra: dict[str, Any] | None = None,
    blacklisted: bool | None = None,
) -> bool:
    """Re-run survivorship over a golden record's source records; write a version if anything changed.

    Steward overrides are laid over the surviving values; `blacklisted` changes the blacklist flag,
    which otherwise carries over. Returns whether a new version was written. A golden record left
    with no source records is deactivated (never deleted).
    """
    # the credit inputs ride along: nothing survivorship writes changes them
    read = uow.golden_to_refresh(golden_id, SUSPECTED_BLACKLIST_MATCH)
    golden, stored, stored_overrides = read.golden, read.attached, read.overrides
    if golden is None or golden.state in ("retired", "erased"):
        return False
    if not stored:
        if golden.state != "active" or golden.version == 0:
            return False
        deactivated = replace(golden, state="deactivated", version=golden.version + 1, source_refs=[])
        uow.save_golden(
            deactivated,
            event_type="customer.deactivated",
            event=customer_event(deactivated, "customer.deactivated", ctx.now),
            cause=cause,
            topic=ctx.customer_topic,
        )
        refresh_credit_status(uow, golden_id, ctx, golden=deactivated, inputs=read.credit)
        uow.supersede_reviews(golden_id)  # nothing is left to compare: its reviews close
        return True

    overrides = {o.attribute: Override(o.attribute, o.value, o.actor, o.set_at) for o in stored_overrides}
    attributes = apply_overrides(survive([record_from_json(s.record) for s in stored], ctx.rules), overrides)
    parent_golden_id = None
    parent_ref = attributes.values.get("parent_source_record_id")
    parent_lineage = attributes.lineage.get("parent_source_record_id")
    if parent_ref and parent_lineage is not None:
        found = uow.golden_id_of(parent_lineage.source, parent_ref)
        parent_golden_id = uow.resolve(found) if found else None
        if parent_golden_id == golden_id:
            parent_golden_id = None
    if blacklisted is None:
        blacklisted = bool(golden.customer and golden.customer.get("blacklisted"))
    updated = replace(
        golden,
        state="active",
        customer=render_customer(attributes, parent_golden_id=parent_golden_id, blacklisted=blacklisted),
        source_refs=[{"source": s.source, "source_record_id": s.source_record_id} for s in stored],
        lineage=render_lineage(attributes),
        data_quality=render_data_quality(attributes),
    )
    unchanged = (
        golden.state == "active"
        and golden.version > 0
        and (golden.customer, golden.source_refs, golden.data_quality)
        == (updated.customer, updated.source_refs, updated.data_quality)
    )
    if unchanged and event_type is None:
        return False
    updated = replace(updated, version=golden.version + 1)
    if event_type is None:
        event_type = "customer.created" if golden.version == 0 else "customer.updated"
    uow.save_golden(
        updated,
        event_type=event_type,
        event=customer_event(updated, event_type, ctx.now, **(extra or {})),
        cause=cause,
        topic=ctx.customer_topic,
    )
    refresh_credit_status(uow, golden_id, ctx, golden=updated, inputs=read.credit)
    return True
