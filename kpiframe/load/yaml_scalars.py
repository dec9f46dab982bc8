"""The tag and value that ruamel gives a plain YAML scalar, found with less work than ruamel's own calls.

kpiframe.load.yaml_parse reads most files with PyYAML's C composer and gives each scalar ruamel's value.
ruamel's tag of a plain scalar is that of the first of YAML 1.2's implicit resolvers, among those listed
for its first character, whose pattern matches the whole text; a string when none does. The patterns are
the installed ruamel's own (read from its resolver, never restated here). The commonest texts of each tag
get ruamel's value here; the others ask ruamel's constructor. Asking ruamel about every number and date
was about 2 % of a cold `kpiframe compile` of the example (issue 12, point 8).
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime
from typing import Any

_TAG = "tag:yaml.org,2002:"

NOT_SIMPLE = object()  # simple_value's answer for a text whose value ruamel's constructor must give
_DECIMAL = re.compile(r"[-+]?[0-9]+")  # ruamel: sign * int(digits), without `_`, 0b, 0o, 0x
_FRACTION = re.compile(r"[-+]?[0-9]+\.[0-9]+")  # ruamel: sign * float(text): the same float
# a date, or a time of day without fraction or zone, as ruamel's create_timestamp reads them
_WHEN = re.compile(r"([0-9]{4})-([0-9][0-9]?)-([0-9][0-9]?)(?:(?:[Tt]|[ \t]+)([0-9][0-9]?):([0-9]{2}):([0-9]{2}))?")


@functools.cache
def _resolvers() -> dict[str | None, list[tuple[str, Any]]]:
    """ruamel's implicit resolvers for YAML 1.2, the version it reads a file without a %YAML directive in,
    from the installed ruamel: first character -> [(tag, pattern)], None -> those tried for any text."""
    from ruamel.yaml.resolver import VersionedResolver

    table: dict[str | None, list[tuple[str, Any]]] = VersionedResolver().versioned_resolver
    return table


def plain_tag(text: str) -> str | None:
    """ruamel's tag of a plain (unquoted, untagged) scalar with this text; None for a string. The same
    lookup as ruamel's resolver, without its per-call work (a new tag object, two caught exceptions)."""
    table = _resolvers()
    for tag, pattern in [*table.get(text[:1], ()), *table.get(None, ())]:  # the empty text's are under ""
        if pattern.match(text):
            return str(tag)
    return None


def simple_value(tag: str, text: str) -> Any:
    """ruamel's value of a plain scalar of this tag and text, or NOT_SIMPLE when only its constructor
    knows it (an integer with `_` or a base, an exponent, infinity, a time with a zone...)."""
    kind = tag.removeprefix(_TAG)
    if kind == "null":
        return None
    if kind == "bool":  # true|True|TRUE|false|False|FALSE, read through ruamel's bool_values
        return text.lower() == "true"
    if kind == "int" and _DECIMAL.fullmatch(text):
        return int(text)
    if kind == "float" and _FRACTION.fullmatch(text):
        return float(text)
    when = _WHEN.fullmatch(text) if kind == "timestamp" else None
    if when is None:
        return NOT_SIMPLE
    year, month, day, hour, minute, second = when.groups()
    if hour is None:
        return date(int(year), int(month), int(day))
    return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
