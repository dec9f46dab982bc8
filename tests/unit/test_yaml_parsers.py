"""Project YAML is read by libyaml (a C parser) where that gives exactly what ruamel's pure-Python parser
gives, and by the pure-Python parser everywhere else (kpiframe/load/yaml_parse.py): the same values, the
same positions, the same diagnostics. Both libyamls are checked: PyYAML's (0.2) and ruamel's (0.1). Each
case below is one where a libyaml and the pure-Python parser differ, found by differential fuzzing of the
repository's YAML; the fuzz at the end keeps looking."""

from __future__ import annotations

import random
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest

from kpiframe.load.yaml_parse import (
    parse_with_libyaml,
    parse_with_ruamel,
    parse_yaml,
    pyyaml_composer,
    ruamel_composer,
)

REPO = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {".venv", ".git", "target", "node_modules"}
YAML_FILES = sorted(
    p for p in REPO.rglob("*.y*ml") if p.suffix in (".yml", ".yaml") and not SKIPPED_DIRS & set(p.parts)
)
COMPOSERS = {"pyyaml": pyyaml_composer(), "ruamel": ruamel_composer()}


@pytest.fixture(params=sorted(COMPOSERS))
def fast(request):
    """parse_with_libyaml with one of the two libyamls."""
    if COMPOSERS[request.param] is None:
        pytest.skip(f"{request.param}'s C parser is not installed")
    return partial(parse_with_libyaml, compose=COMPOSERS[request.param])


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


def as_parse_yaml(fast):
    """parse_yaml as it runs with this libyaml: libyaml where it may, else the pure-Python parser."""

    def parse(text, rel_path, problems):
        doc = fast(text, rel_path)
        return doc if doc is not None else parse_with_ruamel(text, rel_path, problems)

    return parse


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_yaml_file_of_the_repository_reads_the_same(path, fast):
    if not path.exists():
        pytest.skip(f"{path} was removed after collection")
    text = path.read_text(encoding="utf-8")
    assert outcome(text, as_parse_yaml(fast)) == outcome(text, parse_with_ruamel)


def test_parse_yaml_reads_the_example_with_libyaml():
    """The speed-up is real: the example's files go through libyaml (all of them with PyYAML's)."""
    files = [REPO / "models" / "sources.yml", REPO / "metrics" / "marketing.yml", REPO / "metrics" / "sales.yml"]
    if COMPOSERS["pyyaml"] is not None:
        files += sorted((REPO / "metrics" / "tests").glob("*.yml"))
    if all(c is None for c in COMPOSERS.values()):
        pytest.skip("no C parser installed")
    assert all(parse_with_libyaml(p.read_text(encoding="utf-8"), p.name) is not None for p in files)


@pytest.mark.parametrize(
    "text",
    [
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
def test_where_the_parsers_differ_the_pure_python_parser_decides(text, fast):
    assert fast(text, "metrics/x.yml") is None
    assert outcome(text, as_parse_yaml(fast)) == outcome(text, parse_with_ruamel)
    assert outcome(text, parse_yaml) == outcome(text, parse_with_ruamel)


def test_a_colon_inside_a_flow_scalar_reads_as_yaml_1_2(fast):
    """`{at: 2026-01-05 10:00:00}` (the example's metric tests are full of these) is YAML 1.2: libyaml 0.2
    (PyYAML's) reads it so, libyaml 0.1 (ruamel's) refuses it and the pure-Python parser reads it."""
    text = "rows:\n  - {at: 2026-01-05 10:00:00, n: 1}\n"
    assert outcome(text, as_parse_yaml(fast)) == outcome(text, parse_with_ruamel)
    assert outcome(text, parse_yaml)[1] == {
        ("str", "rows"): [{("str", "at"): ("datetime", datetime(2026, 1, 5, 10)), ("str", "n"): ("int", 1)}]
    }


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: [x, 'y', \"z\"]\nc: {d: 2026-01-05, e: 1.50, f: null, g: yes, h: 0o17, i: 017, j: ~}\nk: 1:20\n",
        "\ufeffname: with a byte order mark first\n",
        "sql: |\n  select 1\n\n  from x\nnote: >-\n  folded\n  text\n",
        "a: &x [1, 2]\nb: *x\nc: {k: *x}\n",
        '- {name: "éé", x: 1}\n- naïve: [a, é]\n',
        "a: 1\r\nb:\r\n  - x\r\n",
    ],
)
def test_ordinary_files_are_read_by_libyaml_as_by_ruamel(text, fast):
    assert fast(text, "metrics/x.yml") is not None
    assert outcome(text, as_parse_yaml(fast)) == outcome(text, parse_with_ruamel)


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


def test_mutated_project_files_read_the_same_with_either_parser(fast):
    """A small differential fuzz: files of the repository with a few characters inserted, removed or
    repeated; whatever libyaml is allowed to read of each reads as the pure-Python parser reads it."""
    seeds = [p.read_text(encoding="utf-8") for p in YAML_FILES if p.exists() and p.stat().st_size < 6_000]
    rng = random.Random(20261206)
    read_by_libyaml = 0
    for _ in range(150):
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
        read_by_libyaml += fast(text, "metrics/x.yml") is not None
        assert outcome(text, as_parse_yaml(fast)) == outcome(text, parse_with_ruamel), repr(text)
    assert read_by_libyaml > 15  # the fuzz reaches the fast path, not only refusals
