"""Comparison keys for names: case-, accent- and punctuation-free, legal forms removed."""

from __future__ import annotations

import re
import unicodedata

#: Legal-form words removed from the end of an organisation's name. Multi-word forms whose words are
#: also forms on their own ("Pte Ltd", "Sdn Bhd", "Pvt Ltd") fall off one word at a time.
# fmt: off
LEGAL_FORM_TOKENS: frozenset[str] = frozenset({
    "ltd", "limited", "pte", "pvt", "pty", "sdn", "bhd", "berhad", "gmbh", "ag", "as", "aps", "ab", "oy",
    "oyj", "asa", "sa", "sas", "sarl", "srl", "sl", "bv", "nv", "inc", "incorporated", "corp", "corporation",
    "co", "company", "llc", "llp", "lp", "plc", "kg", "kgaa", "ohg", "ug", "spa", "sro", "kft", "tbk", "lda",
    "ltda",
})
# fmt: on

#: Legal forms of several words whose words are not all forms on their own.
LEGAL_FORM_PHRASES: tuple[tuple[str, ...], ...] = (
    ("private", "limited"),
    ("public", "limited", "company"),
    ("and", "co"),
    ("sp", "z", "oo"),
)

# Dots, slashes and apostrophes join ("A/S" -> "as", "S.A." -> "sa"); other punctuation separates.
_JOINING = re.compile("[./'`\u2019]")
_NOT_WORD = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"\s+")


def clean_text(value: str | None) -> str | None:
    """Strip and collapse whitespace; None for an empty value."""
    if value is None:
        return None
    collapsed = _SPACES.sub(" ", value).strip()
    return collapsed or None


def _fold(value: str) -> str:
    """Casefold, strip accents and punctuation, collapse whitespace."""
    decomposed = unicodedata.normalize("NFKD", value)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    plain = plain.replace("&", " and ")
    plain = _JOINING.sub("", plain)
    plain = _NOT_WORD.sub(" ", plain)
    return _SPACES.sub(" ", plain).strip()


def organisation_name_key(name: str) -> str:
    """Return an organisation name's comparison key: "ABC Manufacturing Pte. Ltd." -> "abc manufacturing"."""
    tokens = _fold(name).split()
    # Never strip the last word: "Company Ltd" keys as "company", not as nothing.
    stripped = True
    while stripped and len(tokens) > 1:
        stripped = False
        for phrase in LEGAL_FORM_PHRASES:
            if len(tokens) > len(phrase) and tuple(tokens[-len(phrase) :]) == phrase:
                del tokens[-len(phrase) :]
                stripped = True
                break
        else:
            if tokens[-1] in LEGAL_FORM_TOKENS:
                tokens.pop()
                stripped = True
    return " ".join(tokens)


def person_name_key(first: str | None, last: str | None) -> str | None:
    """Return the comparison key of a person's name, "first last"; None when both are empty."""
    key = " ".join(part for part in (_fold(first or ""), _fold(last or "")) if part)
    return key or None


def split_full_name(full_name: str) -> tuple[str | None, str | None]:
    """Split one "name" into (first, last): the last word is the last name, the rest the first."""
    words = full_name.split()
    if not words:
        return None, None
    if len(words) == 1:
        return None, words[0]
    return " ".join(words[:-1]), words[-1]
