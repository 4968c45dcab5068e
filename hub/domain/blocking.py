"""Blocking keys: cheap, exact keys that find a record's candidate golden records through an index.

A true match almost always shares at least one key, however it was misspelt: identifiers, emails and
phones for the strong evidence; for names, a phonetic surname code joined with the postcode, the
date of birth or the given name's initial; for organisations the name key and its first token with
the postcode. Each key is narrow enough that looking it up costs one index probe.
"""

from __future__ import annotations

import unicodedata

from hub.domain.model import CleanRecord

_SOUNDEX_CODES = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    **dict.fromkeys("mn", "5"),
    "r": "6",
}


def _fold(value: str | None) -> str:
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return "".join(c for c in decomposed if c.isalpha())


def soundex(value: str | None) -> str:
    """Return the American Soundex code of a word ("" for none), so Smith and Smyth share a key."""
    letters = _fold(value)
    if not letters:
        return ""
    code = letters[0].upper()
    previous = _SOUNDEX_CODES.get(letters[0], "")
    for letter in letters[1:]:
        digit = _SOUNDEX_CODES.get(letter, "")
        if digit and digit != previous:
            code += digit
        if letter not in "hw":
            previous = digit
    return (code + "000")[:4]


def blocking_keys(record: CleanRecord) -> list[tuple[str, str]]:
    """Return the (kind, value) keys under which a record is indexed and searched."""
    keys: list[tuple[str, str]] = []
    keys += [("identifier", k) for k in record.identifier_keys]
    keys += [("identifier", t.key) for t in record.tax_ids if t.valid is None and t.key]
    keys += [("email", e) for e in record.emails]
    keys += [("phone", p) for p in record.phones]
    postcodes = sorted({a.postal_code for a in record.addresses if a.postal_code})
    dob = record.date_of_birth.isoformat() if record.date_of_birth else None
    if record.party_type == "organization" and record.name_key:
        keys.append(("org_name", record.name_key))
        first_token = record.name_key.split()[0]
        keys += [("org_token_postcode", f"{first_token}|{pc}") for pc in postcodes]
    else:
        first, last = _fold(record.first_name), _fold(record.last_name)
        names = {n for n in (first, last) if n}
        for surname in names:  # both orders, so swapped first and last names still meet
            code = soundex(surname)
            keys += [("surname_postcode", f"{code}|{pc}") for pc in postcodes]
            if dob:
                keys.append(("surname_dob", f"{code}|{dob}"))
        if first and last:
            keys.append(("name", f"{first} {last}"))
        if first and dob:
            keys.append(("given_dob", f"{soundex(first)}|{dob}"))
        if dob:
            keys += [("dob_postcode", f"{dob}|{pc}") for pc in postcodes]
    return sorted(set(keys))
