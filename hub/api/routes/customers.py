"""Golden records: search, detail (a retired id redirects to its survivor), history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import RedirectResponse
from pydantic import AfterValidator, BaseModel, Field

from hub.api.deps import (
    Admin,
    ConnectionDep,
    HubDep,
    Reason,
    ReasonQuery,
    Steward,
    Viewer,
    expected_version,
    in_transaction,
    storable,
)
from hub.api.problems import Problem
from hub.domain.errors import InvalidValue
from hub.domain.identifiers import search_keys
from hub.domain.model import RawTaxId
from hub.domain.normalise import normalise_email, normalise_phone
from hub.service.erasure import erase_customer
from hub.service.stewardship import (
    merge_by_hand,
    override_attribute,
    propose_credit_limit,
    remove_override,
    resolve_alert,
    set_blacklisted,
    unmerge_by_hand,
)
from hub.store import queries

router = APIRouter(prefix="/customers", tags=["customers"])


@router.get("")
def search_customers(
    conn: ConnectionDep,
    actor: Viewer,
    q: Annotated[str | None, Query(min_length=2, max_length=200, description="fuzzy name")] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    phone: Annotated[str | None, Query(max_length=40, description="E.164, or with country")] = None,
    country: Annotated[
        str | None, Query(pattern="^[A-Za-z]{2}$", description="region for a local phone")
    ] = None,
    tax_id: Annotated[str | None, Query(max_length=60)] = None,
    scheme: Annotated[str | None, Query(max_length=40, description="python-stdnum scheme of tax_id")] = None,
    golden_id: Annotated[str | None, Query(max_length=40)] = None,
    source: Annotated[str | None, Query(pattern="^(crm|pos|ecommerce)$")] = None,
    source_record_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[
        str | None,
        Query(
            max_length=40, pattern="^CUS-[0-9]+$", description="cursor: the last golden_id of the page (next)"
        ),
    ] = None,
) -> dict[str, Any]:
    """Search golden records by one criterion; exact ones page by cursor, names rank by likeness."""
    given = [
        n
        for n, v in [
            ("q", q),
            ("email", email),
            ("phone", phone),
            ("tax_id", tax_id),
            ("golden_id", golden_id),
            ("source_record_id", source_record_id),
        ]
        if v
    ]
    if len(given) != 1:
        raise Problem(
            422, "one_criterion", "give exactly one of q, email, phone, tax_id, golden_id, source_record_id"
        )
    try:
        if q:
            items = queries.search_by_name(conn, q, limit)
            return {"items": items, "next": None}
        if email:
            items = queries.search_by_key(conn, "email", [normalise_email(email)], after, limit)
        elif phone:
            items = queries.search_by_key(
                conn, "phone", [normalise_phone(phone, country and country.upper())], after, limit
            )
        elif tax_id:
            keys = search_keys(RawTaxId(scheme, tax_id), country=country and country.upper())
            items = queries.search_by_key(conn, "identifier", keys, after, limit)
        elif golden_id:
            items = queries.search_by_golden_id(conn, golden_id)
        else:
            if source is None:
                raise Problem(422, "source_required", "source_record_id needs source (crm, pos or ecommerce)")
            items = queries.search_by_source_ref(conn, source, source_record_id or "", after, limit)
    except InvalidValue as error:
        raise Problem(422, error.code, error.message) from error
    return {"items": items, "next": items[-1]["golden_id"] if len(items) == limit else None}


@router.get("/{golden_id}", responses={308: {"description": "retired: the survivor's location"}})
def get_customer(golden_id: str, conn: ConnectionDep, actor: Viewer) -> Any:
    """Return a golden record with its source records, lineage and data quality."""
    detail = queries.golden_detail(conn, golden_id)
    if detail is None:
        raise Problem(404, "customer_not_found", f"no golden record {golden_id}")
    if detail["state"] == "retired" and detail["survivor_id"]:
        return RedirectResponse(f"/customers/{detail['survivor_id']}", status_code=308)
    return detail


@router.get("/{golden_id}/history")
def get_customer_history(golden_id: str, conn: ConnectionDep, actor: Viewer) -> dict[str, Any]:
    """Return every version of a golden record, what caused it, and the match decisions about it."""
    if queries.golden_detail(conn, golden_id) is None:
        raise Problem(404, "customer_not_found", f"no golden record {golden_id}")
    return queries.golden_history(conn, golden_id)


class SourceRefIn(BaseModel):
    """A source reference: which source system, which record."""

    source: Literal["crm", "pos", "ecommerce"]
    source_record_id: str = Field(min_length=1, max_length=200)


class MergeRequest(BaseModel):
    """Merge other golden records into the one in the path."""

    other_ids: list[str] = Field(min_length=1, max_length=50)
    reason: Reason
    version: int | None = Field(
        None, ge=1, strict=True, description="the version the change is based on (or If-Match)"
    )


class UnmergeRequest(BaseModel):
    """Split source records off into a new golden record."""

    source_refs: list[SourceRefIn] = Field(min_length=1, max_length=50)
    reason: Reason
    version: int | None = Field(
        None, ge=1, strict=True, description="the version the change is based on (or If-Match)"
    )


def _run(hub: HubDep, action: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run a steward use case in one transaction; a refusal becomes a problem document (problems.py)."""
    return in_transaction(hub, lambda uow: action(uow, *args, ctx=hub.context(), **kwargs))


@router.post("/{golden_id}/merge")
def merge_customers(
    golden_id: str,
    body: MergeRequest,
    hub: HubDep,
    actor: Steward,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Merge other golden records into this one, which survives; publishes merged and retired events."""
    version = expected_version(if_match, body.version)
    return _run(
        hub,
        merge_by_hand,
        golden_id,
        body.other_ids,
        expected_version=version,
        reason=body.reason,
        actor=actor.name,
    )


@router.post("/{golden_id}/unmerge")
def unmerge_customer(
    golden_id: str,
    body: UnmergeRequest,
    hub: HubDep,
    actor: Steward,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Split source records off into a new golden record; publishes customer.unmerged and customer.created."""
    version = expected_version(if_match, body.version)
    refs = [(r.source, r.source_record_id) for r in body.source_refs]
    return _run(
        hub, unmerge_by_hand, golden_id, refs, expected_version=version, reason=body.reason, actor=actor.name
    )


class OverrideRequest(BaseModel):
    """A steward's value for one attribute (its JSON form: a string, a boolean or a list of strings)."""

    value: Annotated[str | bool | list[str], AfterValidator(storable)]
    reason: Reason
    version: int | None = Field(
        None, ge=1, strict=True, description="the version the change is based on (or If-Match)"
    )


class ReasonRequest(BaseModel):
    """Why a change is made; every change is audited with it."""

    reason: Reason
    version: int | None = Field(
        None, ge=1, strict=True, description="the version the change is based on (or If-Match)"
    )


Attribute = Annotated[str, Path(max_length=60, description="e.g. legal_name, emails, credit.payment_terms")]
VersionQuery = Annotated[int | None, Query(ge=1, description="the version the change is based on")]


@router.put("/{golden_id}/overrides/{attribute}")
def put_override(
    golden_id: str,
    attribute: Attribute,
    body: OverrideRequest,
    hub: HubDep,
    actor: Steward,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Set a steward's value for one attribute; it wins over every source until removed."""
    version = expected_version(if_match, body.version)
    return _run(
        hub,
        override_attribute,
        golden_id,
        attribute,
        body.value,
        expected_version=version,
        reason=body.reason,
        actor=actor.name,
    )


@router.delete("/{golden_id}/overrides/{attribute}")
def delete_override(
    golden_id: str,
    attribute: Attribute,
    reason: ReasonQuery,
    hub: HubDep,
    actor: Steward,
    version: VersionQuery = None,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Remove a steward's value; survivorship chooses the attribute from the sources again."""
    expected = expected_version(if_match, version)
    return _run(
        hub, remove_override, golden_id, attribute, expected_version=expected, reason=reason, actor=actor.name
    )


@router.post("/{golden_id}/blacklist")
def blacklist_customer(
    golden_id: str,
    body: ReasonRequest,
    hub: HubDep,
    actor: Admin,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Blacklist a customer: it is held in its credit status, and records that match it raise alerts."""
    version = expected_version(if_match, body.version)
    return _run(
        hub, set_blacklisted, golden_id, True, expected_version=version, reason=body.reason, actor=actor.name
    )


@router.delete("/{golden_id}/blacklist")
def unblacklist_customer(
    golden_id: str,
    reason: ReasonQuery,
    hub: HubDep,
    actor: Admin,
    version: VersionQuery = None,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Take a customer off the blacklist."""
    expected = expected_version(if_match, version)
    return _run(
        hub, set_blacklisted, golden_id, False, expected_version=expected, reason=reason, actor=actor.name
    )


@router.post("/{golden_id}/erase")
def erase(
    golden_id: str,
    body: ReasonRequest,
    hub: HubDep,
    actor: Admin,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Erase a customer's personal data everywhere (GDPR); the id stays a tombstone; customer.erased out."""
    version = expected_version(if_match, body.version)
    return _run(
        hub, erase_customer, golden_id, expected_version=version, reason=body.reason, actor=actor.name
    )


@router.post("/{golden_id}/alerts/{alert_id}/resolve")
def resolve_customer_alert(
    golden_id: str,
    alert_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: ReasonRequest,
    hub: HubDep,
    actor: Steward,
) -> dict[str, Any]:
    """Close an alert a steward looked into; a suspected blacklist match stops holding the customer."""
    return _run(hub, resolve_alert, golden_id, alert_id, reason=body.reason, actor=actor.name)


class CreditLimitProposal(BaseModel):
    """A new credit limit, in the customer's credit currency, as a decimal string."""

    credit_limit: str = Field(pattern=r"^[0-9]{1,16}(\.[0-9]{1,2})?$", examples=["150000.00"])
    reason: Reason
    version: int | None = Field(
        None, ge=1, strict=True, description="the version the change is based on (or If-Match)"
    )


@router.post("/{golden_id}/credit-limit-proposals")
def propose_limit(
    golden_id: str,
    body: CreditLimitProposal,
    hub: HubDep,
    actor: Steward,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Propose a credit limit: applied within HUB_CREDIT_APPROVAL_THRESHOLDS, else pending approval."""
    version = expected_version(if_match, body.version)
    return _run(
        hub,
        propose_credit_limit,
        golden_id,
        body.credit_limit,
        expected_version=version,
        reason=body.reason,
        actor=actor.name,
    )
