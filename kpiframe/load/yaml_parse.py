"""YAML text to plain Python data, with the line and column of every node.

What a file means is what ruamel's pure-Python parser (YAML 1.2) makes of it: its values, the positions
diagnostics point at, its error messages. That parser is also most of a cold compile's time (about 10 ms
a file), so a file is first read by libyaml, a C parser 5-15 times faster, and kept only where libyaml
certainly reads it the same way; every other file, and every error, goes to the pure-Python parser.

libyaml reads YAML 1.1, ruamel YAML 1.2. The values of scalars (1.2: `yes` is a string, `017` is 17)
are ruamel's on both paths: its resolver and constructor decide them on the slow path, and on the libyaml
path kpiframe.load.yaml_scalars does as they do (ruamel's own patterns, its values of the commonest
texts, its constructor for the others), so only the syntax can differ. Found by
differential fuzzing of the repository's YAML (tests/unit/test_yaml_parsers.py keeps the cases), a file
goes to the pure-Python parser when it holds what _may_differ finds:
- tabs (libyaml accepts them in more places); NEL, LS, PS and a lone CR (line breaks in 1.1 only);
- a byte order mark after the first character (its column is counted differently);
- a %YAML directive (it picks the rules for values);
- a line of spaces only (ruamel refuses one before a block scalar's first line, libyaml does not);
- a tag, or an anchor or alias whose name has more than letters, digits, _ and - (1.2 allows more,
  such as `&name:`);
and when it has an empty value (placed after the colon by libyaml, at the next token by ruamel).

libyaml comes with PyYAML (version 0.2, which reads `{at: 2026-01-05 10:00:00}` as YAML 1.2 does) or,
without PyYAML, with ruamel (0.1, which refuses that line, so such files take the slow path).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from kpiframe.errors import Diagnostic, SourceLocation
from kpiframe.load.yaml_scalars import NOT_SIMPLE, plain_tag, simple_value

# ruamel and PyYAML are imported where a file is parsed: a load whose files all come from the parse
# cache needs neither. Their nodes are typed Any for that reason; `node.id` is a node's kind (scalar,
# sequence, mapping), the same in both libraries.
Node = Any
KeyPath = tuple[str | int, ...]
Composer = Callable[[str], tuple[Node, Callable[[Node], Any]]]  # text -> root node, scalar node -> value

# An alias (*name) repeats the node its anchor (&name) marks. Nine lines of aliases of aliases
# ("billion laughs") stand for 10**9 values, so the values an alias repeats are counted and
# capped: real project files repeat a few hundred at most.
MAX_ALIAS_VALUES = 100_000


@dataclass
class YamlDocument:
    """A parsed YAML file as plain Python data, plus the position of each node by its key path."""

    path: str
    data: Any
    positions: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, key_path: KeyPath = ()) -> SourceLocation:
        """The position of the deepest known node on `key_path` (the file itself when none is known)."""
        for end in range(len(key_path), -1, -1):
            found = self.positions.get(tuple(key_path[:end]))
            if found:
                return SourceLocation(self.path, found[0], found[1])
        return SourceLocation(self.path, 1, 1)


def parse_yaml(text: str, rel_path: str, problems: list[Diagnostic]) -> YamlDocument | None:
    """Parse YAML text; syntax errors become a KF003 diagnostic at the offending line."""
    fast = parse_with_libyaml(text, rel_path)
    return fast if fast is not None else parse_with_ruamel(text, rel_path, problems)


def parse_with_ruamel(text: str, rel_path: str, problems: list[Diagnostic]) -> YamlDocument | None:
    """ruamel's pure-Python parser: the reference reading of every file, and the one that reports errors."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    yaml = YAML(typ="safe", pure=True)  # the node tree carries positions; no comment bookkeeping needed
    try:
        node = yaml.compose(text)
        doc = YamlDocument(rel_path, None)
        walk = _Walk(doc.positions, lambda scalar: yaml.constructor.construct_object(scalar, deep=True))
        doc.data = None if node is None else _to_plain(node, (), walk)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = exc.problem or exc.context or "malformed YAML"
        problems.append(Diagnostic("KF003", f"malformed YAML: {message}", SourceLocation(rel_path, line, column)))
        return None
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. bad unicode escapes)
        problems.append(Diagnostic("KF003", f"malformed YAML: {exc}", SourceLocation(rel_path, 1, 1)))
        return None
    return doc


class _MayDiffer(Exception):
    """libyaml's reading of this file may not be ruamel's: parse it with ruamel's pure-Python parser."""


def parse_with_libyaml(text: str, rel_path: str, compose: Composer | None = None) -> YamlDocument | None:
    """The file as libyaml reads it, where that is certainly what the pure-Python parser reads too;
    None otherwise, and on any error (parse_yaml then reports it as ruamel does). `compose`: which
    libyaml (tests check both); by default the best one installed."""
    compose = compose or libyaml_composer()
    if compose is None or _may_differ(text):
        return None
    try:
        node, construct = compose(text)
        doc = YamlDocument(rel_path, None)
        walk = _Walk(doc.positions, construct, libyaml=True, aliases="*" in text)
        doc.data = None if node is None else _to_plain(node, (), walk)
    except Exception:  # noqa: BLE001  any refusal, ours included, is the pure-Python parser's to report
        return None
    return doc


def _may_differ(text: str) -> bool:
    spaces_only_line, needs_a_look, may_differ = _patterns()
    if spaces_only_line.search(text):
        return True
    return needs_a_look.search(text) is not None and may_differ.search(text) is not None


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """Compiled when a file is first parsed, not when the module is imported (a warm load parses none)."""
    return (
        re.compile(r"^ +\r?$", re.MULTILINE),
        re.compile(r"[\t\x85\u2028\u2029\r\ufeff%!&*]"),  # fast: a character that every other case needs
        re.compile(
            r"[\t\x85\u2028\u2029]|\r(?!\n)|(?<=[\s\S])\ufeff|^%"
            r"|(?:^|[\s\[\]{},])(?:!|[&*][0-9A-Za-z_-]*[^0-9A-Za-z_\s\[\]{},-])",
            re.MULTILINE,
        ),
    )


@functools.cache
def libyaml_composer() -> Composer | None:
    """libyaml 0.2 from PyYAML, else libyaml 0.1 from ruamel, else None (every file takes the slow path)."""
    return pyyaml_composer() or ruamel_composer()


def libyaml_in_use() -> str:
    """Which C parser reads project YAML (for benchmarks and bug reports)."""
    if pyyaml_composer() is not None:
        from yaml._yaml import get_version_string

        return f"libyaml {get_version_string()} (PyYAML)"
    if ruamel_composer() is not None:
        from _ruamel_yaml import get_version_string as ruamel_version

        return f"libyaml {ruamel_version()} (ruamel)"
    return "ruamel's pure-Python parser only"


@functools.cache
def pyyaml_composer() -> Composer | None:
    try:
        from yaml._yaml import CParser
    except ImportError:
        return None

    class Parser(CParser):  # type: ignore[misc]  # PyYAML has no type hints
        """PyYAML's C composer. It asks `resolve` for the tag of each node written without one, which is
        every node here (a tag sends the file to the pure-Python parser); the only tags that matter, those
        of plain scalars, follow from their text: `construct` finds them (kpiframe.load.yaml_scalars)."""

        def resolve(self, kind: type, value: str | None, implicit: tuple[bool, bool]) -> None:
            pass

        def descend_resolver(self, parent: Any, index: Any) -> None:
            pass

        def ascend_resolver(self) -> None:
            pass

    def compose(text: str) -> tuple[Node, Callable[[Node], Any]]:
        parser = Parser(text)
        try:
            node = parser.get_single_node()
        finally:
            parser.dispose()
        return node, _PlainValues()

    return compose


class _PlainValues:
    """ruamel's value of each scalar of one file composed by PyYAML: a quoted or block scalar is a string
    whatever its text (ruamel's default tag), a plain one gets the tag its text resolves to."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}  # a plain scalar's value follows from its text alone
        self.constructor: Any = None  # ruamel's, made for the first value only it knows

    def __call__(self, scalar: Node) -> Any:
        text = scalar.value
        if scalar.style:
            return text
        tag = plain_tag(text)
        if tag is None:  # ruamel's value of a string is its text (SafeConstructor.construct_yaml_str)
            return text
        if text not in self.values:
            value = simple_value(tag, text)
            self.values[text] = self._constructed(scalar, tag) if value is NOT_SIMPLE else value
        return self.values[text]

    def _constructed(self, scalar: Node, tag: str) -> Any:
        from ruamel.yaml import YAML
        from ruamel.yaml.nodes import ScalarNode

        if self.constructor is None:
            self.constructor = YAML(typ="safe", pure=True).constructor  # as on the slow path
        own = ScalarNode(tag, scalar.value, scalar.start_mark, scalar.end_mark, style=None)
        return self.constructor.construct_object(own, deep=True)


@functools.cache
def ruamel_composer() -> Composer | None:
    import ruamel.yaml.main

    if getattr(ruamel.yaml.main, "CParser", None) is None:
        return None

    def compose(text: str) -> tuple[Node, Callable[[Node], Any]]:
        yaml = ruamel.yaml.main.YAML(typ="safe")  # typ safe, not pure: the C parser
        node = yaml.compose(text)
        return node, lambda scalar: yaml.constructor.construct_object(scalar, deep=True)

    return compose


@dataclass
class _Walk:
    """State of one file's conversion: positions found, nodes already converted, values aliases repeated."""

    positions: dict[KeyPath, tuple[int, int]]
    construct: Callable[[Node], Any]  # a scalar node's value
    seen: set[int] = field(default_factory=set)
    open: set[int] = field(default_factory=set)  # the nodes being converted: an alias to one is a cycle
    repeated: int = 0
    libyaml: bool = False  # composed by libyaml: an empty value's position would not be ruamel's
    aliases: bool = True  # False: the text has no `*`, so no alias, and every node is met once


def _to_plain(node: Node, path: KeyPath, walk: _Walk, repeating: Node | None = None) -> Any:
    """Turn composed nodes into dicts, lists and scalars, recording each child's position.

    The composer gives an alias the very node object of its anchor, so a node met a second time is
    an alias being expanded: everything under it counts against MAX_ALIAS_VALUES. `repeating` is the
    outermost anchored node being repeated, where a refusal points.
    """
    if walk.aliases:  # a text without `*` has no alias: nothing to count, nor to look up for each node
        repeating = _count_repeats(node, walk, repeating)
    if node.id == "scalar":
        if walk.libyaml and node.value == "" and not node.style:
            raise _MayDiffer
        return walk.construct(node)
    walk.open.add(id(node))
    result = (
        _mapping(node, path, walk, repeating)
        if node.id == "mapping"
        else [_child(child, (*path, index), walk, repeating) for index, child in enumerate(node.value)]
    )
    walk.open.discard(id(node))
    return result


def _count_repeats(node: Node, walk: _Walk, repeating: Node | None) -> Node | None:
    """Refuse an alias cycle, and more than MAX_ALIAS_VALUES values repeated by aliases; return the
    outermost anchored node being repeated, if any."""
    if id(node) in walk.open:
        _refuse("an alias refers to a node that contains it", node.start_mark)
    repeating = repeating or (node if id(node) in walk.seen else None)
    walk.seen.add(id(node))
    if repeating is not None:
        walk.repeated += 1
        if walk.repeated > MAX_ALIAS_VALUES:
            _refuse(
                f"aliases (*name) expand to more than {MAX_ALIAS_VALUES:,} values; "
                "repeat less, or write the values out",
                repeating.start_mark,
            )
    return repeating


def _mapping(node: Node, path: KeyPath, walk: _Walk, repeating: Node | None) -> dict[Any, Any]:
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if key_node.id != "scalar":  # a list or mapping as a key: never meant, and costly to print
            _refuse("a key must be a plain value, not a list or mapping", key_node.start_mark)
        if walk.libyaml and key_node.value == "" and not key_node.style:
            raise _MayDiffer
        key = walk.construct(key_node)
        key = key if isinstance(key, (str, int)) else str(key)
        if key in result:
            _refuse(f"duplicate key '{key}'", key_node.start_mark)
        mark = value_node.start_mark if value_node.id == "scalar" else key_node.start_mark
        child_path = (*path, str(key))
        walk.positions[child_path] = (mark.line + 1, mark.column + 1)
        result[key] = _to_plain(value_node, child_path, walk, repeating)
    return result


def _refuse(problem: str, mark: Any) -> NoReturn:
    """Stop the parse with a located problem, as ruamel reports its own."""
    from ruamel.yaml.error import MarkedYAMLError

    raise MarkedYAMLError(problem=problem, problem_mark=mark)


def _child(node: Node, path: KeyPath, walk: _Walk, repeating: Node | None) -> Any:
    walk.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    return _to_plain(node, path, walk, repeating)
