"""Survivorship: fold the clean records of one real customer into the attributes of its golden record.

Each single-valued attribute (or group of attributes that only make sense together, such as a
person's first and last name) is taken whole from one source record, chosen by the attribute's rule;
multi-valued attributes are de-duplicated unions in rule order, within the SPEC's limits. Every
chosen value records its lineage: which source record gave it, and when.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from hub.domain.model import (
    DEFAULT_SOURCE_PRIORITY,
    Address,
    CleanRecord,
    Contact,
    CreditTerms,
    QualityIssue,
    TaxId,
)

RULES = ("source_priority", "most_recent", "most_complete")

#: Attributes taken together from one record, so a golden record never mixes two people's names.
GROUPS: dict[str, tuple[str, ...]] = {
    "person_name": ("first_name", "last_name"),
}
SINGLE_VALUED: tuple[str, ...] = (
    "party_type",
    "status",
    "legal_name",
    "trading_name",
    "legal_form",
    "person_name",
    "date_of_birth",
    "customer_type",
    "category",
    "parent_source_record_id",
    "also_supplier_id",
    "credit",
    "correspondence_mode",
    "language",
    "marketing_opt_in",
)
MULTI_VALUED: tuple[str, ...] = (
    "tax_ids",
    "emails",
    "phones",
    "addresses",
    "contacts",
    "loyalty_cards",
    "custom_fields",
)
LIMITS: dict[str, int] = {"addresses": 20, "contacts": 50, "custom_fields": 30}


@dataclass(frozen=True)
class AttributeRule:
    """How one attribute survives: a rule name and, for source priority, the order of sources."""

    rule: str = "source_priority"
    sources: tuple[str, ...] = DEFAULT_SOURCE_PRIORITY

    def order(self, records: Iterable[CleanRecord], value: Callable[[CleanRecord], Any]) -> list[CleanRecord]:
        """Return the records best first under this rule; ties go to the most recent."""
        candidates = list(records)
        newest_first = sorted(candidates, key=lambda r: r.occurred_at, reverse=True)
        if self.rule == "most_recent":
            return newest_first
        if self.rule == "most_complete":
            return sorted(newest_first, key=lambda r: -_completeness(value(r)))
        rank = {source: i for i, source in enumerate(self.sources)}
        return sorted(newest_first, key=lambda r: rank.get(r.source, len(rank)))


@dataclass(frozen=True)
class SurvivorshipRules:
    """The configured rule of every attribute; unnamed attributes use the default rule."""

    default: AttributeRule = AttributeRule()
    attributes: Mapping[str, AttributeRule] = field(default_factory=dict)
    version: str = "1"

    def for_attribute(self, name: str) -> AttributeRule:
        """Return the rule of one attribute."""
        return self.attributes.get(name, self.default)

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> SurvivorshipRules:
        """Build the rules from a parsed configuration file, rejecting unknown rules and attributes."""
        known = set(SINGLE_VALUED) | set(MULTI_VALUED)

        def parse(name: str, entry: Mapping[str, Any]) -> AttributeRule:
            rule = entry.get("rule", "source_priority")
            if rule not in RULES:
                raise ValueError(
                    f"survivorship: {name}: unknown rule {rule!r}; use one of {', '.join(RULES)}"
                )
            sources = tuple(entry.get("sources", DEFAULT_SOURCE_PRIORITY))
            return AttributeRule(rule=rule, sources=sources)

        attributes: dict[str, AttributeRule] = {}
        for name, entry in dict(config.get("attributes", {})).items():
            if name not in known:
                raise ValueError(f"survivorship: unknown attribute {name!r}")
            attributes[name] = parse(name, entry)
        default = parse("default", config.get("default", {}))
        return cls(default=default, attributes=attributes, version=str(config.get("version", "1")))


@dataclass(frozen=True)
class Lineage:
    """Where a golden attribute's value came from."""

    source: str
    source_record_id: str
    at: datetime


@dataclass(frozen=True)
class GoldenAttributes:
    """The surviving attributes of a golden record, with lineage and data quality."""

    values: dict[str, Any]
    lineage: dict[str, Lineage]
    issues: tuple[tuple[QualityIssue, str, str], ...]
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """Whether the record has everything its party type requires."""
        return not self.missing


def _completeness(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value)
    if isinstance(value, tuple):
        return sum(1 for v in value if v not in (None, "", ()))
    if hasattr(value, "__dataclass_fields__"):
        return sum(1 for name in value.__dataclass_fields__ if getattr(value, name) not in (None, "", False))
    return 1


def _attribute(record: CleanRecord, name: str) -> Any:
    return getattr(record, name)


def _value(record: CleanRecord, attribute: str) -> Any:
    if attribute in GROUPS:
        values = tuple(getattr(record, name) for name in GROUPS[attribute])
        return values if any(v is not None for v in values) else None
    return getattr(record, attribute)


def _present(value: Any) -> bool:
    return value is not None and value not in ("", ())


def _address_identity(address: Address) -> Hashable:
    return (
        (address.kind or "").casefold(),
        (address.line1 or "").casefold(),
        (address.line2 or "").casefold(),
        address.postal_code,
        address.country,
    )


def _contact_identity(contact: Contact) -> Hashable:
    return ((contact.name or "").casefold(), contact.email, contact.phone)


def _tax_id_identity(tax_id: TaxId) -> Hashable:
    return tax_id.key if tax_id.key else (tax_id.scheme, tax_id.value)


def _itself(item: Any) -> Hashable:
    return item  # type: ignore[no-any-return]


_IDENTITIES: dict[str, Callable[[Any], Hashable]] = {
    "tax_ids": _tax_id_identity,
    "addresses": _address_identity,
    "contacts": _contact_identity,
}


def missing_master_data(values: Mapping[str, Any]) -> tuple[str, ...]:
    """Name what the party type requires but the golden record lacks (SPEC 6, incomplete_master_data)."""
    missing: list[str] = []
    if values.get("party_type") == "organization":
        if not values.get("legal_name"):
            missing.append("legal_name")
        tax_ids: Sequence[TaxId] = values.get("tax_ids", ())
        if not any(t.valid is not False for t in tax_ids):
            missing.append("tax_ids")
        if not any((a.kind or "").casefold() == "billing" for a in values.get("addresses", ())):
            missing.append("billing_address")
        if not any(c.name for c in values.get("contacts", ())):
            missing.append("contacts")
    else:
        if not (values.get("first_name") or values.get("last_name")):
            missing.append("name")
        if not values.get("addresses"):
            missing.append("addresses")
        if not (values.get("phones") or values.get("emails")):
            missing.append("phone_or_email")
    return tuple(missing)


def survive(records: Sequence[CleanRecord], rules: SurvivorshipRules) -> GoldenAttributes:
    """Choose every attribute of a golden record from its source records."""
    values: dict[str, Any] = {}
    lineage: dict[str, Lineage] = {}

    for attribute in SINGLE_VALUED:
        rule = rules.for_attribute(attribute)
        chosen = next(
            (
                r
                for r in rule.order(records, partial(_value, attribute=attribute))
                if _present(_value(r, attribute))
            ),
            None,
        )
        names = GROUPS.get(attribute, (attribute,))
        for name in names:
            values[name] = getattr(chosen, name) if chosen is not None else None
            if chosen is not None and values[name] is not None:
                lineage[name] = Lineage(chosen.source, chosen.source_record_id, chosen.occurred_at)

    for attribute in MULTI_VALUED:
        rule = rules.for_attribute(attribute)
        ordered = rule.order(records, partial(_attribute, name=attribute))
        if attribute == "custom_fields":
            merged: dict[str, Any] = {}
            for record in ordered:
                for key, item in record.custom_fields.items():
                    if key not in merged and len(merged) < LIMITS["custom_fields"]:
                        merged[key] = item
                        lineage[f"custom_fields.{key}"] = Lineage(
                            record.source, record.source_record_id, record.occurred_at
                        )
            values[attribute] = merged
            continue
        identity: Callable[[Any], Hashable] = _IDENTITIES.get(attribute, _itself)
        seen: set[Hashable] = set()
        items: list[Any] = []
        limit = LIMITS.get(attribute)
        for record in ordered:
            for item in getattr(record, attribute):
                if limit is not None and len(items) >= limit:
                    break
                identity_key = identity(item)
                if identity_key in seen:
                    continue
                seen.add(identity_key)
                lineage[f"{attribute}[{len(items)}]"] = Lineage(
                    record.source, record.source_record_id, record.occurred_at
                )
                items.append(item)
        values[attribute] = tuple(items)

    if values.get("status") is None:
        values["status"] = "prospect"
    if values.get("party_type") is None:
        values["party_type"] = "organization" if values.get("legal_name") else "person"

    issues = tuple((issue, r.source, r.source_record_id) for r in records for issue in r.issues)
    return GoldenAttributes(
        values=values, lineage=lineage, issues=issues, missing=missing_master_data(values)
    )


def credit_as_dict(credit: CreditTerms | None) -> dict[str, Any] | None:
    """Render a credit block with its money as a decimal string."""
    if credit is None:
        return None
    return {
        "limit": None if credit.limit is None else f"{credit.limit:.2f}",
        "currency": credit.currency,
        "check_limit": credit.check_limit,
        "payment_terms": credit.payment_terms,
        "rating": credit.rating,
    }
