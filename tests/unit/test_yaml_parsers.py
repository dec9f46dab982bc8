"""Project YAML is read by libyaml (ruamel's C parser) where that gives exactly what ruamel's pure-Python
parser gives, and by the pure-Python parser everywhere else (kpiframe/load/files.py): the same values,
the same positions, the same diagnostics. Each case below is one where the two parsers differ, found by
differential fuzzing of the repository's YAML; the fuzz at the end keeps looking."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import ruamel.yaml.main

from kpiframe.load.files import _parse_with_libyaml, _parse_with_ruamel, parse_yaml

REPO = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {".venv", ".git", "target", "node_modules"}
YAML_FILES = sorted(
    p for p in REPO.rglob("*.y*ml") if p.suffix in (".yml", ".yaml") and not SKIPPED_DIRS & set(p.parts)
)

pytestmark = pytest.mark.skipif(
    getattr(ruamel.yaml.main, "CParser", None) is None, reason="ruamel's C parser is not installed"
)


def typed(value: object) -> object:
    """The value with the type of every scalar, so that 1, 1.0 and True do not compare equal."""
    if isinstance(value, dict):
        return {typed(k): typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def outcome(text: str, parse) -> tuple[object, ...]:
    problems: list = []
    doc = parse(text, "metrics/x.yml", problems)
    if doc is None:
        return ("refused", [(d.code, d.message, d.location) for d in problems])
    return ("read", typed(doc.data), doc.positions, [(d.code, d.message, d.location) for d in problems])


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_yaml_file_of_the_repository_reads_the_same(path):
    text = path.read_text(encoding="utf-8")
    assert outcome(text, parse_yaml) == outcome(text, _parse_with_ruamel)


def test_the_example_is_mostly_read_by_libyaml():
    """The speed-up is real: the example's metric and model files go through libyaml."""
    files = [REPO / "models" / "sources.yml", REPO / "metrics" / "marketing.yml", REPO / "metrics" / "sales.yml"]
    assert all(_parse_with_libyaml(p.read_text(encoding="utf-8"), p.name) is not None for p in files)


@pytest.mark.parametrize(
    "text",
    [
        # YAML 1.2 only: a colon inside a flow scalar (the example's metric tests have these)
        "rows:\n  - {at: 2026-01-05 10:00:00, n: 1}\n",
        # tabs as separation: libyaml accepts, ruamel refuses
        "a:\t1\n",
        # an empty value: libyaml places it after the colon, ruamel at the next token
        "metrics:\n  - name: x\n    agg:\n    expr: y\n",
        "a: {b: }\n",
        # a line of spaces before a block scalar's first line: ruamel refuses it, libyaml does not
        "sql: |\n \n     select 1\n",
        # 1.2 anchor names may hold a colon: `&grain:` is an anchor for ruamel, anchor + key for libyaml
        "kpis:\n  - metric: leads\n    &grain: month\n",
        "a: *x:y\n",
        # a byte order mark inside the text: columns after it are counted differently
        "trees:\n  - {metric: re\ufeffvenue, grain: month}\n",
        "a: 1\n\ufeff  b: 2\n",
        # NEL, LS, PS and a lone CR are line breaks in YAML 1.1 only
        "a: x\x85y\n",
        "a: x\u2028y\n",
        "a: 1\rb: 2\n",
        # a directive picks the rules for values
        "%YAML 1.1\n---\na: yes\n",
        # a tag
        "a: !!str 1\n",
        # mistakes: reported with ruamel's message and position
        "a: [1, 2\n",
        "a: 1\na: 2\n",
        "? [a]\n: 1\n",
        "a: &x [1, *x]\n",
        "a: 1\n---\nb: 2\n",
    ],
)
def test_where_the_parsers_differ_the_pure_python_parser_decides(text):
    assert _parse_with_libyaml(text, "metrics/x.yml") is None
    assert outcome(text, parse_yaml) == outcome(text, _parse_with_ruamel)


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: [x, 'y', \"z\"]\nc: {d: 2026-01-05, e: 1.50, f: null, g: yes, h: 0o17, i: 017}\n",
        "\ufeffname: with a byte order mark first\n",
        "sql: |\n  select 1\n\n  from x\nnote: >-\n  folded\n  text\n",
        "a: &x [1, 2]\nb: *x\nc: {k: *x}\n",
        '- {name: "éé", x: 1}\n- naïve: [a, é]\n',
        "a: 1\r\nb:\r\n  - x\r\n",
    ],
)
def test_ordinary_files_are_read_by_libyaml_as_by_ruamel(text):
    assert _parse_with_libyaml(text, "metrics/x.yml") is not None
    assert outcome(text, parse_yaml) == outcome(text, _parse_with_ruamel)


PIECES = list(" \n:-,[]{}#&*!|>'\"%?.0a9é\t\r") + [
    ": ",
    "- ",
    "\n  ",
    "&a ",
    "*a",
    "&a:",
    "{a: 1}",
    "[x, y]",
    " |\n",
    " >-\n",
    "\n \n",
    "\ufeff",
    "2026-01-05 10:00:00",
    "? ",
    "---\n",
]


def test_mutated_project_files_read_the_same_with_either_parser():
    """A small differential fuzz: files of the repository with a few characters inserted, removed or
    repeated; whatever parse_yaml makes of each is what the pure-Python parser makes of it."""
    seeds = [p.read_text(encoding="utf-8") for p in YAML_FILES if p.stat().st_size < 6_000]
    rng = random.Random(20261206)
    read_by_libyaml = 0
    for _ in range(200):
        text = rng.choice(seeds)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(text) + 1)
            choice = rng.random()
            if choice < 0.5:
                text = text[:at] + rng.choice(PIECES) + text[at:]
            elif choice < 0.8:
                text = text[:at] + text[at + rng.randint(1, 5) :]
            else:
                start = rng.randrange(len(text) + 1)
                text = text[:at] + text[start : start + rng.randint(1, 20)] + text[at:]
        read_by_libyaml += _parse_with_libyaml(text, "metrics/x.yml") is not None
        assert outcome(text, parse_yaml) == outcome(text, _parse_with_ruamel), repr(text)
    assert read_by_libyaml > 20  # the fuzz reaches the fast path, not only refusals
