"""The libyaml path gives each plain scalar its tag and, for the commonest texts, its value without asking
ruamel (kpiframe/load/yaml_scalars.py): both must be ruamel's, for every text."""

from __future__ import annotations

import contextlib
import math

from ruamel.yaml import YAML
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

from kpiframe.load.yaml_parse import parse_with_libyaml, parse_with_ruamel, pyyaml_composer
from kpiframe.load.yaml_scalars import NOT_SIMPLE, plain_tag, simple_value

TEXTS = [
    "",
    "~",
    "null",
    "Null",
    "NULL",
    "nul",
    "n",
    "no",
    "yes",
    "on",
    "true",
    "True",
    "TRUE",
    "tRue",
    "false",
    "False",
    "f",
    "0",
    "-0",
    "+0",
    "017",
    "0o17",
    "0x1F",
    "0b101",
    "1_000",
    "-12",
    "+3",
    "１２",
    "1.5",
    "-0.0",
    "1.",
    ".5",
    "1_0.5",
    "-.inf",
    ".NaN",
    "1e3",
    "1.0e+3",
    "12:30",
    "2026-01-05",
    "2026-1-5",
    "2026-02-30",
    "2026-1-5 10:00:00",
    "2026-01-05T10:00:00",
    "2026-01-05t7:05:09",
    "2026-01-05 10:00:00Z",
    "2026-01-05T10:00:00.5",
    "2026-01-05 10:00:00 +02:00",
    "<<",
    "=",
    "!",
    "+",
    "-",
    ".",
    "leads",
    "Total leads",
    "é",
    "7 days",
]


def ruamel_tag(text: str) -> str | None:
    tag = str(VersionedResolver().resolve(ScalarNode, text, (True, False)))
    return None if tag == "tag:yaml.org,2002:str" else tag


def test_every_text_gets_ruamels_tag() -> None:
    starts = {start for start in VersionedResolver().versioned_resolver if start}
    for text in [*TEXTS, *(start + "1" for start in starts), *starts]:
        assert plain_tag(text) == ruamel_tag(text), text


def test_simple_values_are_ruamels() -> None:
    constructor = YAML(typ="safe", pure=True).constructor
    simple = []
    for text in TEXTS:
        tag = plain_tag(text)
        if tag is None:
            continue
        try:
            expected = constructor.construct_object(ScalarNode(tag, text, None, None), deep=True)
        except Exception:  # noqa: BLE001  2026-02-30, <<: ruamel refuses them; so do we, or we ask ruamel
            with contextlib.suppress(ValueError):
                assert simple_value(tag, text) is NOT_SIMPLE, text
            continue
        value = simple_value(tag, text)
        if value is NOT_SIMPLE:
            continue
        simple.append(text)
        assert (type(value), value) == (type(expected), expected), text
        if isinstance(value, float):
            assert math.copysign(1, value) == math.copysign(1, expected), text
    assert {"null", "TRUE", "017", "-12", "-0.0", "2026-01-05", "2026-1-5 10:00:00", "2026-01-05t7:05:09"} <= set(
        simple
    )
    assert "2026-01-05 10:00:00Z" not in simple and "1_000" not in simple and "1e3" not in simple


def test_values_are_ruamels() -> None:
    plain = [t for t in TEXTS if t not in ("", "-", "2026-02-30") and not t.startswith(("!", "<<", "="))]
    text = "".join(f"k{i}: {t}\nq{i}: '{t}'\n" for i, t in enumerate(plain)) + "s: [1, 2026-01-05, x, '1', null]\n"
    assert pyyaml_composer() is not None  # PyYAML's C parser, a dependency of kpiframe
    fast = parse_with_libyaml(text, "metrics/x.yml")
    assert fast is not None
    slow = parse_with_ruamel(text, "metrics/x.yml", [])
    assert slow is not None
    typed = {key: (type(value).__name__, repr(value)) for key, value in fast.data.items()}
    assert typed == {key: (type(value).__name__, repr(value)) for key, value in slow.data.items()}
    assert fast.positions == slow.positions
