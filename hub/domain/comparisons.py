"""Match comparisons: field by field, how much a source record and a candidate look like one customer.

Each comparison is a small named rule that puts a pair of clean records on one of its *levels*
(ordered best first) and says why in words a steward can read. The levels carry no weight here: the
Fellegi-Sunter model in `hub.domain.scoring` turns each level into a match weight. The level "null"
means that one side has nothing to compare, so the comparison is no evidence either way.

The candidate is a clean record too: the matcher builds one from a golden record's surviving values.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler

from hub.domain.model import Address as PostalAddress
from hub.domain.model import CleanRecord
from hub.domain.names import organisation_name_key, person_name_key

NULL = "null"


@dataclass(frozen=True)
class ComparisonResult:
    """Record one comparison's verdict: the level reached and the reason a steward reads.

    `value` is the compared value behind an exact level (a name key), for term-frequency adjustment;
    None when the level is not about one shared value.
    """

    comparison: str
    level: str
    reason: str
    value: str | None = None


class Comparison(Protocol):
    """Compare one attribute of a source record with a candidate's and return a level and a reason."""

    name: str
    levels: tuple[str, ...]

    def compare(self, record: CleanRecord, candidate: CleanRecord) -> ComparisonResult:
        """Return the best level the pair reaches, with its reason."""
        ...


_NOT_WORD = re.compile(r"[^\w]+|_")


def _fold(value: str | None) -> str:
    """Casefold, strip accents and punctuation, collapse whitespace; "" for nothing."""
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(_NOT_WORD.sub(" ", plain).split())


def _best(levels: Sequence[str], found: Iterable[tuple[str, str, str | None]]) -> tuple[str, str, str | None]:
    """Pick the (level, reason, value) whose level comes first in `levels`."""
    return min(found, key=lambda item: levels.index(item[0]))


class PersonName:
    """Compare a person's first and last names: exact, swapped, Jaro-Winkler, surname and initial."""

    name: str = "person_name"
    levels: tuple[str, ...] = (
        "exact",
        "swapped",
        "jaro_winkler_0.92",
        "jaro_winkler_0.85",
        "surname_and_initial",
        "surname_only",
        "different",
        NULL,
    )

    def compare(self, record: CleanRecord, candidate: CleanRecord) -> ComparisonResult:
        """Return the best name level; null when either side has no person name."""
        level, reason, value = self._level(record, candidate)
        return ComparisonResult(self.name, level, reason, value)

    def _level(self, record: CleanRecord, candidate: CleanRecord) -> tuple[str, str, str | None]:
        a_first, a_last = (
            person_name_key(record.first_name, None) or "",
            person_name_key(record.last_name, None) or "",
        )
        b_first, b_last = (
            person_name_key(candidate.first_name, None) or "",
            person_name_key(candidate.last_name, None) or "",
        )
        a_name = " ".join(p for p in (record.first_name, record.last_name) if p)
        b_name = " ".join(p for p in (candidate.first_name, candidate.last_name) if p)
        if not (a_first or a_last) or not (b_first or b_last):
            return NULL, "no person name on one side", None
        if (a_first, a_last) == (b_first, b_last):
            return "exact", f"person names {a_name!r}/{b_name!r} are equal", person_name_key(a_first, a_last)
        if not (a_first and a_last and b_first and b_last):
            return self._partial(record, candidate, (a_first, a_last), (b_first, b_last))
        if (a_first, a_last) == (b_last, b_first):
            return "swapped", f"first and last names swapped: {a_name!r}/{b_name!r}", None
        first_similarity = JaroWinkler.similarity(a_first, b_first)
        last_similarity = JaroWinkler.similarity(a_last, b_last)
        detail = "; ".join(
            (
                _name_part("last name", record.last_name, candidate.last_name, last_similarity),
                _name_part("first name", record.first_name, candidate.first_name, first_similarity),
            )
        )
        lowest = min(first_similarity, last_similarity)
        if lowest >= 0.92:
            return "jaro_winkler_0.92", detail, None
        if lowest >= 0.85:
            return "jaro_winkler_0.85", detail, None
        if a_last == b_last and a_first[0] == b_first[0]:
            return "surname_and_initial", f"{detail}; first initials '{a_first[0].upper()}' agree", None
        return "different", detail, None

    @staticmethod
    def _partial(
        record: CleanRecord, candidate: CleanRecord, a: tuple[str, str], b: tuple[str, str]
    ) -> tuple[str, str, str | None]:
        """Compare names when one side lacks a first or a last name: only the last names can agree."""
        if not (a[1] and b[1]):
            return NULL, "no name part that both sides have", None
        similarity = JaroWinkler.similarity(a[1], b[1])
        detail = _name_part("last name", record.last_name, candidate.last_name, similarity)
        if similarity >= 0.92:
            return "surname_only", f"{detail}; a first name is missing on one side", None
        return "different", detail, None


def _name_part(label: str, a: str | None, b: str | None, similarity: float) -> str:
    if similarity >= 1.0:
        return f"{label} {a!r} equals"
    return f"{label}s {a!r}/{b!r} Jaro-Winkler {similarity:.2f}"


class OrganisationName:
    """Compare organisation names without their legal forms: exact, then token-set similarity."""

    name: str = "organisation_name"
    levels: tuple[str, ...] = ("exact", "token_set_95", "token_set_85", "different", NULL)

    def compare(self, record: CleanRecord, candidate: CleanRecord) -> ComparisonResult:
        """Return the best level over legal and trading names; null when either side has none."""
        a_names = _organisation_names(record)
        b_names = _organisation_names(candidate)
        if not a_names or not b_names:
            return ComparisonResult(self.name, NULL, "no organisation name on one side")
        found: list[tuple[str, str, str | None]] = []
        for a_name, a_key in a_names:
            for b_name, b_key in b_names:
                found.append(self._pair(a_name, a_key, b_name, b_key))
        level, reason, value = _best(self.levels, found)
        return ComparisonResult(self.name, level, reason, value)

    @staticmethod
    def _pair(a_name: str, a_key: str, b_name: str, b_key: str) -> tuple[str, str, str | None]:
        if a_key == b_key:
            return "exact", f"names {a_name!r}/{b_name!r} are equal without legal form ({a_key!r})", a_key
        ratio = fuzz.token_set_ratio(a_key, b_key)
        reason = f"names {a_name!r}/{b_name!r} without legal form token-set similarity {ratio:.0f}"
        if ratio >= 95:
            return "token_set_95", reason, None
        if ratio >= 85:
            return "token_set_85", reason, None
        return "different", reason, None


def _organisation_names(record: CleanRecord) -> list[tuple[str, str]]:
    names: list[tuple[str, str]] = []
    for name in (record.legal_name, record.trading_name):
        key = organisation_name_key(name) if name else ""
        if name and key and all(key != k for _, k in names):
            names.append((name, key))
    return names


class DateOfBirth:
    """Compare dates of birth: exact, day and month swapped, one digit off, same year only."""

    name: str = "date_of_birth"
    levels: tuple[str, ...] = (
        "exact",
        "day_month_swapped",
        "one_digit_off",
        "two_digits_off",
        "year_only",
        "different",
        NULL,
    )

    def compare(self, record: CleanRecord, candidate: CleanRecord) -> ComparisonResult:
        """Return the date-of-birth level; null when either side has no date of birth."""
        a, b = record.date_of_birth, candidate.date_of_birth
        if a is None or b is None:
            return ComparisonResult(self.name, NULL, "no date of birth on one side")
        level, reason = self._level(a, b)
        return ComparisonResult(self.name, level, reason)

    @staticmethod
    def _level(a: date, b: date) -> tuple[str, str]:
        pair = f"dates of birth {a.isoformat()}/{b.isoformat()}"
        if a == b:
            return "exact", f"{pair} are equal"
        if a.year == b.year and a.day == b.month and a.month == b.day:
            return "day_month_swapped", f"{pair} have day and month swapped"
        # Optimal string alignment distance 1: one digit mistyped, or two adjacent digits transposed.
        distance = OSA.distance(a.strftime("%Y%m%d"), b.strftime("%Y%m%d"))
        if distance == 1:
            return "one_digit_off", f"{pair} differ by one digit"
        # Two typos in eight digits still look like one date; only a date further off is "different".
        if distance == 2:
            return "two_digits_off", f"{pair} differ by two digits"
        if a.year == b.year:
            return "year_only", f"{pair} share only the year {a.year}"
        return "different", f"{pair} differ"


#: Local parts that name a role, not a person: the same one at two domains is no evidence.
ROLE_LOCAL_PARTS: frozenset[str] = frozenset(
    {"info", "sales", "admin", "contact", "office", "accounts", "billing", "support", "hello", "mail",
     "enquiries", "orders", "finance", "invoices", "noreply", "no-reply", "service", "team"}
)  # fmt: skip


class Email:
    """Compare email addresses: a shared address, or the same local part at another domain."""

    name: str = "email"
    levels: tuple[str, ...] = ("exact", "same_local_part", "different", NULL)

    def compare(self, record: CleanRecord, candidate: CleanRecord) -> ComparisonResult:
        """Return the email level; null when either side has no valid email."""
        if not record.emails or not candidate.emails:
            return ComparisonResult(self.name, NULL, "no email on one side")
        shared = sorted(set(record.emails) & set(candidate.emails))
        if shared:
            return ComparisonResult(self.name, "exact", f"shares email {shared[0]!r}", shared[0])
        for a in record.emails:
            a_local, _, a_domain = a.rpartition("@")
            if a_local in ROLE_LOCAL_PARTS:
                continue
            for b in candidate.emails:
                b_local, _, b_domain = b.rpartition("@")
                if a_local == b_local:
                    return ComparisonResult(
                        self.name,
                        "same_local_part",
                        f"same local part {a_local!r} at different domains {a_domain!r}/{b_domain!r}",
                    )
        return ComparisonResult(
            self.name,
            "different",
            f"emails {', '.join(record.emails)} / {', '.join(candidate.emails)} differ",
        )


class Phone:
    """Compare E.164 phone numbers: a shared number, or the same last 8 digits."""

    name: str = "phone"
    levels: tuple[str, ...] = ("exact", "last_8_digits", "different", NULL)

    def compare(self, record: CleanRecord, candidate: CleanRecord) -> ComparisonResult:
        """Return the phone level; null when either side has no valid phone."""
        if not record.phones or not candidate.phones:
            return ComparisonResult(self.name, NULL, "no phone on one side")
        shared = sorted(set(record.phones) & set(candidate.phones))
        if shared:
            return ComparisonResult(self.name, "exact", f"shares phone {shared[0]!r}", shared[0])
        for a in record.phones:
            a_digits = "".join(c for c in a if c.isdigit())
            for b in candidate.phones:
                b_digits = "".join(c for c in b if c.isdigit())
                if len(a_digits) >= 8 and len(b_digits) >= 8 and a_digits[-8:] == b_digits[-8:]:
                    return ComparisonResult(
                        self.name, "last_8_digits", f"phones {a!r}/{b!r} end in the same 8 digits"
                    )
        return ComparisonResult(
            self.name,
            "different",
            f"phones {', '.join(record.phones)} / {', '.join(candidate.phones)} differ",
        )


def _family(key: str) -> str:
    """Return an identifier key's family: "DK:vat:13585628" -> "DK:vat", "au_tfn:123" -> "au_tfn"."""
    return key.rsplit(":", 1)[0]


class Identifier:
    """Compare tax and registration identifiers: shared valid, shared unverified, conflicting, different."""

    name: str = "identifier"
    levels: tuple[str, ...] = (
        "exact_valid",
        "exact_unverified",
        "near_unverified",
        "different",
        "conflict",
        NULL,
    )

    def compare(self, record: CleanRecord, candidate: CleanRecord) -> ComparisonResult:
        """Return the identifier level; a conflict of valid ids outranks any shared id.

        Two valid ids of one family (country and kind, such as "DK:vat") with no value in common are
        a conflict. Ids of unrelated families are no evidence either way (null).
        """
        a_valid = {t.key for t in record.tax_ids if t.valid and t.key}
        b_valid = {t.key for t in candidate.tax_ids if t.valid and t.key}
        a_all = {t.key for t in record.tax_ids if t.key}
        b_all = {t.key for t in candidate.tax_ids if t.key}
        if not a_all or not b_all:
            return ComparisonResult(self.name, NULL, "no identifier on one side")
        conflicts = sorted(
            family
            for family in {_family(k) for k in a_valid} & {_family(k) for k in b_valid}
            if not {k for k in a_valid if _family(k) == family} & {k for k in b_valid if _family(k) == family}
        )
        if conflicts:
            family = conflicts[0]
            a_keys = ", ".join(sorted(k for k in a_valid if _family(k) == family))
            b_keys = ", ".join(sorted(k for k in b_valid if _family(k) == family))
            return ComparisonResult(
                self.name, "conflict", f"valid {family} identifiers differ: {a_keys} / {b_keys}"
            )
        shared_valid = sorted(a_valid & b_valid)
        if shared_valid:
            return ComparisonResult(
                self.name, "exact_valid", f"shares valid identifier {shared_valid[0]}", shared_valid[0]
            )
        shared = sorted(a_all & b_all)
        if shared:
            return ComparisonResult(
                self.name, "exact_unverified", f"shares unverified identifier {shared[0]}", shared[0]
            )
        near = sorted(
            (a, b)
            for a in a_all - a_valid
            for b in b_all - b_valid
            if _family(a) == _family(b) and OSA.distance(a, b) == 1
        )
        if near:
            return ComparisonResult(
                self.name,
                "near_unverified",
                f"unverified identifiers {near[0][0]} / {near[0][1]} differ by one character",
            )
        common = sorted({_family(k) for k in a_all} & {_family(k) for k in b_all})
        if common:
            return ComparisonResult(
                self.name, "different", f"{common[0]} identifiers differ and at least one is unverified"
            )
        return ComparisonResult(self.name, NULL, "no identifier of a common kind")


#: Street-type abbreviations written out, so "12 Main St." and "12 Main Street" agree.
STREET_WORDS: dict[str, str] = {
    "st": "street", "rd": "road", "ave": "avenue", "av": "avenue", "dr": "drive", "ln": "lane",
    "ct": "court", "pl": "place", "cres": "crescent", "cr": "crescent", "hwy": "highway", "pde": "parade",
    "tce": "terrace", "blvd": "boulevard", "cl": "close", "sq": "square",
    "n": "north", "s": "south", "e": "east", "w": "west",
}  # fmt: skip


def _street(line: str | None) -> str:
    return " ".join(STREET_WORDS.get(word, word) for word in _fold(line).split())


def _postcode(address: PostalAddress) -> str:
    return "".join(c for c in (address.postal_code or "") if c.isalnum()).upper()


class Address:
    """Compare postal addresses: postcode and first line, postcode and city, city only."""

    name: str = "address"
    levels: tuple[str, ...] = ("exact_or_close", "postcode", "city", "different", NULL)

    def compare(self, record: CleanRecord, candidate: CleanRecord) -> ComparisonResult:
        """Return the best level over all pairs of addresses; null when either side has none."""
        a_addresses = [a for a in record.addresses if _postcode(a) or _fold(a.city)]
        b_addresses = [b for b in candidate.addresses if _postcode(b) or _fold(b.city)]
        if not a_addresses or not b_addresses:
            return ComparisonResult(self.name, NULL, "no address with a postcode or city on one side")
        level, reason, _ = _best(self.levels, (self._pair(a, b) for a in a_addresses for b in b_addresses))
        return ComparisonResult(self.name, level, reason)

    @staticmethod
    def _pair(a: PostalAddress, b: PostalAddress) -> tuple[str, str, str | None]:
        if a.country and b.country and a.country != b.country:
            return "different", f"countries {a.country}/{b.country} differ", None
        a_postcode, b_postcode = _postcode(a), _postcode(b)
        a_city, b_city = _fold(a.city), _fold(b.city)
        a_line, b_line = _street(a.line1), _street(b.line1)
        same_postcode = bool(a_postcode) and a_postcode == b_postcode
        if same_postcode and a_line and b_line:
            ratio = fuzz.token_set_ratio(a_line, b_line)
            if ratio >= 90:
                return (
                    "exact_or_close",
                    f"postcode {a.postal_code!r} equals; first lines {a.line1!r}/{b.line1!r} "
                    f"token-set similarity {ratio:.0f}",
                    None,
                )
        if same_postcode and a_city and a_city == b_city:
            return "postcode", f"postcode {a.postal_code!r} and city {a.city!r} equal", None
        if same_postcode and not (a_city and b_city):
            return "postcode", f"postcode {a.postal_code!r} equals; a city is missing on one side", None
        if a_city and a_city == b_city:
            return "city", f"city {a.city!r} equals; postcodes {a.postal_code!r}/{b.postal_code!r}", None
        return "different", f"addresses {_place(a)!r}/{_place(b)!r} differ", None


def _place(address: PostalAddress) -> str:
    return " ".join(p for p in (address.postal_code, address.city) if p)


#: The comparisons the default match model weighs, in the order explanations list them.
DEFAULT_COMPARISONS: tuple[Comparison, ...] = (
    PersonName(),
    OrganisationName(),
    DateOfBirth(),
    Email(),
    Phone(),
    Identifier(),
    Address(),
)
