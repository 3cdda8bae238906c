"""Keeping the API key out of everything Vast.ai sends back.

An upstream answer may echo the key anywhere: in `msg`, in `error`, in a nested field, cut in
half by someone's truncation, percent-encoded in a URL or escaped in JSON text. `Redactor`
removes every run of 8 or more characters of the key (in any of those spellings) from every
string of a value, recursively. The client applies it to an error body *before* anything is
picked from it, clipped, logged, stored or shown.
"""

import json
import re
from typing import Any
from urllib.parse import quote, unquote

REDACTED = "[redacted]"
FRAGMENT = 8  # the shortest run of the key that counts as a leak
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _spellings(secret: str) -> set[str]:
    """The ways the key can appear in text: as is, percent-encoded, JSON-escaped (\\uXXXX too)."""
    return {
        secret,
        quote(secret, safe=""),
        quote(secret),
        json.dumps(secret)[1:-1],
        "".join(f"\\u{ord(char):04x}" for char in secret),
    }


class Redactor:
    """Removes the secrets given (and every 8+ character fragment of them) from values."""

    def __init__(self, *secrets: str | None) -> None:
        self._grams: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= FRAGMENT:
                for spelling in _spellings(secret):
                    self._grams.update(spelling[i : i + FRAGMENT] for i in range(len(spelling) - FRAGMENT + 1))
        self._raw_grams = {gram for secret in secrets if secret for gram in _grams_of(secret)}

    def text(self, value: str) -> str:
        """`value` with every run of the secrets' fragments replaced by [redacted]; a string that
        still holds a fragment once percent- or JSON-decoded is replaced whole."""
        if not self._grams or len(value) < FRAGMENT:
            return value
        covered = [False] * len(value)
        for i in range(len(value) - FRAGMENT + 1):
            if value[i : i + FRAGMENT] in self._grams:
                covered[i : i + FRAGMENT] = [True] * FRAGMENT
        if any(covered):
            out, i = [], 0
            while i < len(value):
                if covered[i]:
                    while i < len(value) and covered[i]:
                        i += 1
                    out.append(REDACTED)
                else:
                    out.append(value[i])
                    i += 1
            value = "".join(out)
        for decoded in (unquote(value), _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)):
            if decoded != value and any(gram in decoded for gram in _grams_of_text(decoded, self._raw_grams)):
                return REDACTED
        return value

    def value(self, value: Any) -> Any:
        """`value` (a JSON value) with every string in it passed through `text`, keys included."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(key) if isinstance(key, str) else key: self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value


def _grams_of(secret: str) -> set[str]:
    return {secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)} if len(secret) >= FRAGMENT else set()


def _grams_of_text(text: str, grams: set[str]) -> list[str]:
    """The secret's fragments that occur in `text`."""
    return [text[i : i + FRAGMENT] for i in range(len(text) - FRAGMENT + 1) if text[i : i + FRAGMENT] in grams]
