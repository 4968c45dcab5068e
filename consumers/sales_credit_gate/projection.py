"""What the gate learns from each message: pure rules, no I/O.

A credit-status event reports a customer's status; a `customer.retired` event (or a status naming a
`survivor_id`) says that an id now lives on in its survivor. Everything else on the customer topic is not
the gate's business.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from contracts.outbound import CreditStatusEvent, CustomerEvent


@dataclass(frozen=True)
class StatusReported:
    """A customer's credit status as of one version."""

    status: CreditStatusEvent


@dataclass(frozen=True)
class CustomerRetired:
    """A golden id merged into a survivor; sales to it are sales to the survivor."""

    golden_id: str
    survivor_id: str


@dataclass(frozen=True)
class NotRelevant:
    """A valid message the gate has no use for (another customer event type, a compaction tombstone)."""

    why: str


@dataclass(frozen=True)
class Rejected:
    """A message that breaks the outbound contract; it is counted and logged, never applied."""

    why: str


Fact = StatusReported | CustomerRetired | NotRelevant | Rejected


def read_credit_status(value: bytes | None) -> Fact:
    """Read a message of `mdm.customer-credit-status.v1`."""
    if value is None:
        return NotRelevant("tombstone")
    try:
        return StatusReported(CreditStatusEvent.model_validate_json(value))
    except ValidationError as error:
        return Rejected(_first_error(error))


def read_customer_event(value: bytes | None) -> Fact:
    """Read a message of `mdm.customer.v1`; only retirements matter to the gate."""
    if value is None:
        return NotRelevant("tombstone")
    try:
        event = CustomerEvent.model_validate_json(value)
    except ValidationError as error:
        return Rejected(_first_error(error))
    if event.event_type == "customer.retired" and event.survivor_id:
        return CustomerRetired(event.golden_id, event.survivor_id)
    return NotRelevant(event.event_type)


def supersedes(incoming_version: int, stored_version: int | None) -> bool:
    """Tell whether a status replaces the stored one: only a higher version does (redeliveries do not)."""
    return stored_version is None or incoming_version > stored_version


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    path = ".".join(str(part) for part in first["loc"]) or "(message)"
    return f"{path}: {first['msg']}"
