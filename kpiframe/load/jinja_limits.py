"""Bounds on what one model template may cost: loops, calls, recursion, sizes and time.

jinja2's sandbox stops templates from reaching Python internals, but not from running forever or
asking for terabytes: `{% for i in range(100000) %}{% for j in range(100000) %}` is 10**10 steps,
`'a' * 10**11` is 100 GB, a macro calling itself recurses until Python gives up. A model file may
come from a pull request, so every render here has a budget and the template's own constructs are
routed through checks that refuse before the cost is paid:

- every loop iteration and every call is a step (MAX_STEPS per render, and MAX_SECONDS as a
  backstop, since a step is bounded but not free); calls nest at most MAX_CALL_DEPTH deep;
- `range()` gives at most MAX_RANGE items;
- every value a template builds (operators, literals, filters, calls, `~`) and all the text it
  outputs, counted together, stay within MAX_TEXT characters; operations whose size follows from
  a number (`*`, `**`, `%` and format widths, `center`, `indent`, `replace`...) are checked from
  their arguments, before Python allocates anything.

The checks are compiled into the template: the parsed tree's loops, outputs and literals are
wrapped in calls to guard functions (names starting with __kf_) before code generation.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from functools import wraps
from typing import Any, cast

from jinja2 import nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer

MAX_STEPS = 1_000_000  # loop iterations plus calls in one render
MAX_SECONDS = 30.0  # wall clock for one render, checked at each step
MAX_CALL_DEPTH = 40  # calls inside calls: a macro calling itself stops here
MAX_RANGE = 100_000  # items of one range() (the sandbox's own bound, now a located error)
MAX_TEXT = 5_000_000  # characters output by one render, and the size of any value it builds
MAX_INT_BITS = 100_000  # integers past ~30,000 digits come only from `**` or `*` run away

LOOP, OUTPUT, VALUE, CONCAT = "__kf_loop", "__kf_output", "__kf_value", "__kf_concat"
_WIDE_NUMBER = re.compile(r"\d{7,}")  # a format width or precision of a million or more


class LimitExceeded(Exception):
    """A template went past a bound above; reported as KF304 on the template line that did it."""


class Budget:
    """Steps, call depth, output size and deadline of the render under way."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        self.steps = self.depth = self.output = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise LimitExceeded(f"the template ran more than {MAX_STEPS:,} loop iterations and calls")
        if self.steps % 512 == 0 and time.monotonic() > self.deadline:
            raise LimitExceeded(f"the template ran for more than {MAX_SECONDS:.0f} seconds")

    def emit(self, size: int) -> None:
        self.output += size
        if self.output > MAX_TEXT:
            raise LimitExceeded(f"the template output more than {MAX_TEXT:,} characters")


def units(value: Any, cap: int = MAX_TEXT) -> int:
    """About how many characters str(value) would take, counting shared parts each time they
    repeat (as str() does); stops counting once past `cap`."""
    total, stack = 0, [value]
    while stack and total <= cap:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            total += len(item)
        elif isinstance(item, Namespace):
            stack.append(item._Namespace__attrs)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        else:
            total += 1
    return total


def checked(value: Any) -> Any:
    if units(value) > MAX_TEXT:
        raise LimitExceeded(f"the template built a value of more than {MAX_TEXT:,} characters")
    return value


def _refuse_size(size: int, what: str) -> None:
    if size > MAX_TEXT:
        raise LimitExceeded(f"{what} would make more than {MAX_TEXT:,} characters")


def check_format(template: Any, args: Any) -> None:
    """`'%*d' % (10**11, 1)`, `'{:>10000000000}'.format(1)`: widths come from the format or its arguments."""
    if isinstance(template, str) and _WIDE_NUMBER.search(template):
        raise LimitExceeded("a format width or precision of a million or more")
    values = args if isinstance(args, (tuple, list)) else list(args.values()) if isinstance(args, dict) else [args]
    if any(isinstance(v, int) and abs(v) > MAX_TEXT for v in values):
        raise LimitExceeded("a format argument used as a width is too large")


def check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        if left.bit_length() * right > MAX_INT_BITS:
            raise LimitExceeded(f"{left} ** {right} is too large a number")
    elif operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise LimitExceeded("the product is too large a number")
            return
        for sequence, times in ((left, right), (right, left)):
            if isinstance(sequence, (str, list, tuple)) and isinstance(times, int) and times > 1:
                _refuse_size(units(sequence) * times, "repeating a string or list")
    elif operator == "+" and isinstance(left, (str, list, tuple)):
        _refuse_size(units(left) + units(right), "joining these")
    elif operator == "%" and isinstance(left, str):
        check_format(left, right)


def predicted_size(name: str, subject: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """What a string filter or method whose output grows with an argument will produce, worst case."""
    text = subject if isinstance(subject, str) else ""
    params = [*args, *kwargs.values()]
    numbers = [abs(p) for p in params if isinstance(p, int) and not isinstance(p, bool)]
    strings = [len(p) for p in params if isinstance(p, str)]
    if name in {"center", "ljust", "rjust", "zfill"}:
        return len(text) + max(numbers, default=0)
    if name == "indent":  # each line gets the prefix: a width, or a string
        return len(text) + (text.count("\n") + 1) * max(numbers + strings, default=4)
    if name == "wordwrap":  # at worst a line break (the wrapstring) after every character
        return len(text) * (1 + max(strings, default=1))
    if name == "expandtabs":
        return len(text) * max(numbers, default=8)
    if name == "replace" and len(params) >= 2 and isinstance(params[0], str) and isinstance(params[1], str):
        found = text.count(params[0]) if params[0] else len(text) + 1
        return len(text) + found * max(len(params[1]) - len(params[0]), 0)
    if name == "translate" and params and isinstance(params[0], dict):
        return len(text) * max([units(v) for v in params[0].values()] + [1])
    return 0


_SIZED_FILTERS = {"center", "indent", "wordwrap", "replace"}
_COUNTED_FILTERS = {"batch", "slice"}  # their number argument is a count of groups to make


def guard_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter with its arguments checked first and its result after."""

    @wraps(function)  # keeps jinja's pass_context/pass_environment marker
    def guarded(*args: Any, **kwargs: Any) -> Any:
        values = [a for a in args if not isinstance(a, (Context, ImmutableSandboxedEnvironment))]
        values = [a for a in values if type(a).__name__ != "EvalContext"]
        subject, rest = (values[0], tuple(values[1:])) if values else (None, ())
        if name in _SIZED_FILTERS:
            _refuse_size(predicted_size(name, subject, rest, kwargs), f"the {name} filter")
        elif name in _COUNTED_FILTERS and any(isinstance(v, int) and v > MAX_RANGE for v in (*rest, *kwargs.values())):
            raise LimitExceeded(f"the {name} filter was asked for more than {MAX_RANGE:,} groups")
        elif name == "format":
            check_format(subject, rest or kwargs)
        elif name == "join" and subject is not None and not isinstance(subject, str):
            subject = list(subject)
            separator = rest[0] if rest else kwargs.get("d", "")
            _refuse_size(units(subject) + len(subject) * units(separator), "the join filter")
            args = tuple(subject if a is values[0] else a for a in args)
        return checked(function(*args, **kwargs))

    return guarded


def check_method_call(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """`'x'.center(10**11)`, `'a'.replace('a', big)`, `sep.join(items)`: checked before the call."""
    method = getattr(method, "__wrapped__", method)  # the sandbox wraps str.format to check attributes
    subject = getattr(method, "__self__", None)
    if not isinstance(subject, str) or not callable(method):
        return
    name = getattr(method, "__name__", "")
    if name in {"format", "format_map"}:
        check_format(subject, [*args, *kwargs.values()] if name == "format" else args[0] if args else {})
        return
    if name == "join" and args:
        items = args[0] if isinstance(args[0], (list, tuple, str)) else []
        _refuse_size(units(items) + len(items) * len(subject), "str.join")
        return
    _refuse_size(predicted_size(name, subject, args, kwargs), f"str.{name}")


class _WrapChecks(NodeTransformer):
    """Routes loops, outputs, literals and `~` of a parsed template through the guard functions."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        visited = cast(nodes.For, self.generic_visit(node))  # a transformer returns the node it was given
        visited.iter = _guard(LOOP, [cast(nodes.Expr, visited.iter)], visited.lineno)
        return visited

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        visited = cast(nodes.Output, self.generic_visit(node))
        visited.nodes = [_guard(OUTPUT, [child], child.lineno) for child in visited.nodes]
        return visited

    def visit_Concat(self, node: Any) -> nodes.Node:
        node = self.generic_visit(node)
        return _guard(CONCAT, node.nodes, node.lineno)

    def _literal(self, node: Any) -> Any:
        node = self.generic_visit(node)
        if getattr(node, "ctx", "load") != "load":  # `{% for a, b in ... %}`: a target, not a value
            return node
        return _guard(VALUE, [node], node.lineno)

    visit_List = visit_Tuple = visit_Dict = _literal


def _guard(name: str, arguments: list[nodes.Expr], lineno: int) -> nodes.Call:
    call = nodes.Call(nodes.Name(name, "load"), arguments, [], None, None)
    return call.set_lineno(lineno)  # type: ignore[return-value]


class GuardedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus the budget above; `budget.start()` before each render."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.budget = Budget()
        self.globals.pop("lipsum", None)  # generates text by the paragraph: of no use in SQL
        self.globals.update(
            {"range": self._range, LOOP: self._loop, OUTPUT: self._output, VALUE: checked, CONCAT: self._concat}
        )
        self.filters = {name: guard_filter(name, function) for name, function in self.filters.items()}
        self._guards = {id(self.globals[name]) for name in (LOOP, OUTPUT, VALUE, CONCAT)}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree: nodes.Template = _WrapChecks().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree

    def _range(self, *args: int) -> range:
        items = range(*args)
        if len(items) > MAX_RANGE:
            raise LimitExceeded(f"range() of {len(items):,} items; at most {MAX_RANGE:,}")
        return items

    def _loop(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.budget.step()
            yield item

    def _output(self, value: Any) -> Any:
        self.budget.emit(units(value, MAX_TEXT - self.budget.output))
        return value

    def _concat(self, *parts: Any) -> str:
        _refuse_size(sum(units(part) for part in parts), "joining with ~")
        return "".join(str(part) for part in parts)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_binop(operator, left, right)
        return checked(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if id(__obj) in __self._guards:  # the checks themselves are not steps; inside loops and blocks
            kwargs.pop("_loop_vars", None)  # jinja passes these for context functions: ours are not
            kwargs.pop("_block_vars", None)
            return __obj(*args, **kwargs)
        budget = __self.budget
        budget.step()
        check_method_call(__obj, args, kwargs)
        budget.depth += 1
        try:
            if budget.depth > MAX_CALL_DEPTH:
                raise LimitExceeded(f"calls nested more than {MAX_CALL_DEPTH} deep (a macro calling itself?)")
            return checked(super().call(__context, __obj, *args, **kwargs))
        finally:
            budget.depth -= 1
