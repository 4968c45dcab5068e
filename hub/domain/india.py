"""Indian states and union territories with their GST state codes (the first two digits of a GSTIN)."""

from __future__ import annotations

import re
import unicodedata

# (GST codes, names, ISO 3166-2 codes without "IN-"). Old ISO codes (before the 2020 update) and old names
# are kept so that data typed years ago still maps. Where a territory was merged or split, every code a
# GSTIN registered there may carry is accepted, so the check never rejects a genuine number.
_STATES: tuple[tuple[frozenset[str], tuple[str, ...], tuple[str, ...]], ...] = (
    (frozenset({"01"}), ("Jammu and Kashmir",), ("JK",)),
    (frozenset({"02"}), ("Himachal Pradesh",), ("HP",)),
    (frozenset({"03"}), ("Punjab",), ("PB",)),
    (frozenset({"04"}), ("Chandigarh",), ("CH",)),
    (frozenset({"05"}), ("Uttarakhand", "Uttaranchal"), ("UK", "UT", "UL")),
    (frozenset({"06"}), ("Haryana",), ("HR",)),
    (
        frozenset({"07"}),
        ("Delhi", "New Delhi", "NCT of Delhi", "National Capital Territory of Delhi"),
        ("DL",),
    ),
    (frozenset({"08"}), ("Rajasthan",), ("RJ",)),
    (frozenset({"09"}), ("Uttar Pradesh",), ("UP",)),
    (frozenset({"10"}), ("Bihar",), ("BR",)),
    (frozenset({"11"}), ("Sikkim",), ("SK",)),
    (frozenset({"12"}), ("Arunachal Pradesh",), ("AR",)),
    (frozenset({"13"}), ("Nagaland",), ("NL",)),
    (frozenset({"14"}), ("Manipur",), ("MN",)),
    (frozenset({"15"}), ("Mizoram",), ("MZ",)),
    (frozenset({"16"}), ("Tripura",), ("TR",)),
    (frozenset({"17"}), ("Meghalaya",), ("ML",)),
    (frozenset({"18"}), ("Assam",), ("AS",)),
    (frozenset({"19"}), ("West Bengal",), ("WB",)),
    (frozenset({"20"}), ("Jharkhand",), ("JH",)),
    (frozenset({"21"}), ("Odisha", "Orissa"), ("OD", "OR")),
    (frozenset({"22"}), ("Chhattisgarh", "Chattisgarh"), ("CG", "CT")),
    (frozenset({"23"}), ("Madhya Pradesh",), ("MP",)),
    (frozenset({"24"}), ("Gujarat",), ("GJ",)),
    (frozenset({"25", "26"}), ("Daman and Diu",), ("DD",)),
    (frozenset({"26"}), ("Dadra and Nagar Haveli",), ("DN",)),
    (frozenset({"25", "26"}), ("Dadra and Nagar Haveli and Daman and Diu",), ("DH",)),
    (frozenset({"27"}), ("Maharashtra",), ("MH",)),
    (frozenset({"29"}), ("Karnataka",), ("KA",)),
    (frozenset({"30"}), ("Goa",), ("GA",)),
    (frozenset({"31"}), ("Lakshadweep",), ("LD",)),
    (frozenset({"32"}), ("Kerala",), ("KL",)),
    (frozenset({"33"}), ("Tamil Nadu",), ("TN",)),
    (frozenset({"34"}), ("Puducherry", "Pondicherry"), ("PY",)),
    (frozenset({"35"}), ("Andaman and Nicobar Islands", "Andaman and Nicobar"), ("AN",)),
    (frozenset({"36"}), ("Telangana",), ("TS", "TG")),
    # 28 is undivided Andhra Pradesh (before Telangana split off in 2014), 37 the state today.
    (frozenset({"28", "37"}), ("Andhra Pradesh",), ("AP",)),
    # Ladakh was part of Jammu and Kashmir (01) until 2019.
    (frozenset({"01", "38"}), ("Ladakh",), ("LA",)),
    (frozenset({"97"}), ("Other Territory",), ()),
)

_SPACES = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^\w\s]|_")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    plain = _NOT_WORD.sub(" ", plain.replace("&", " and "))
    return _SPACES.sub(" ", plain).strip()


def _build_lookup() -> dict[str, frozenset[str]]:
    lookup: dict[str, frozenset[str]] = {}
    for codes, names, iso_codes in _STATES:
        for code in codes:
            lookup[code] = lookup.get(code, frozenset()) | {code}
        for text in (*names, *iso_codes, *(f"IN-{iso}" for iso in iso_codes)):
            lookup[_fold(text)] = codes
    return lookup


_LOOKUP = _build_lookup()


def gst_state_codes(state: str) -> frozenset[str]:
    """Return the GST state codes an Indian address's state may carry; empty when the text is unknown.

    The state may be a name ("Karnataka"), an ISO 3166-2 code ("IN-KA" or "KA") or a GST code ("29").
    """
    return _LOOKUP.get(_fold(state), frozenset())
