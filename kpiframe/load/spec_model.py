"""The small record system the project's spec classes are written in (kpiframe.load.specs, kpi.specs).

A `Spec` subclass declares typed fields; `Spec.model_validate(data)` turns parsed YAML into a frozen
instance or raises `SpecInvalid` with every problem located by its key path. Unknown keys are errors
(a misspelt key must not be silently ignored), and the classes give editors a JSON Schema.

Why not pydantic: every kpiframe command starts by reading the project, and importing pydantic and
building its validators cost ~60 ms of a 0.4 s `kpiframe compile` (issue 12, point 8). These classes
cost a few ms. The rules follow pydantic's lax mode where a user could notice (a quoted "5" is an int,
1.0 an int, `yes` a bool; errors read "Input should be a valid integer") so that messages stay familiar.
"""

from __future__ import annotations

import operator
import re
import sys
import types
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union, dataclass_transform, get_args, get_origin

SpecT = TypeVar("SpecT", bound="Spec")
Loc = tuple[str | int, ...]
Problem = tuple[Loc, str, str]  # where, kind (as pydantic names it: missing, extra_forbidden, ...), message
Check = Callable[[Any, Loc, list[Problem], bool], Any]  # value, where, problems, strict -> value or FAIL

FAIL: Any = object()  # a value that did not validate (its problems are in the list)
_MISSING: Any = object()


class SpecInvalid(ValueError):
    """Data that does not fit a spec class; `problems` holds each one with its key path."""

    def __init__(self, spec: type[Spec], problems: list[Problem]) -> None:
        self.problems = problems
        lines = [f"{len(problems)} validation error{'s' if len(problems) != 1 else ''} for {spec.__name__}"]
        for loc, _, message in problems:
            lines += [".".join(str(part) for part in loc) or spec.__name__, f"  {message}"]
        super().__init__("\n".join(lines))


class FieldInfo:
    """What `field(...)` declares: a default and the constraints of one field."""

    __slots__ = ("default", "default_factory", "pattern", "ge", "le", "gt", "min_length", "alias", "in_schema")

    def __init__(self, **options: Any) -> None:
        self.default = options.get("default", _MISSING)
        self.default_factory: Callable[[], Any] | None = options.get("default_factory")
        self.pattern: str | None = options.get("pattern")
        self.ge: float | None = options.get("ge")
        self.le: float | None = options.get("le")
        self.gt: float | None = options.get("gt")
        self.min_length: int | None = options.get("min_length")
        self.alias: str | None = options.get("alias")
        self.in_schema: bool = options.get("in_schema", True)


def field(
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] | None = None,
    pattern: str | None = None,
    ge: float | None = None,
    le: float | None = None,
    gt: float | None = None,
    min_length: int | None = None,
    alias: str | None = None,
) -> Any:
    """A field's default and constraints: `name: str = field(pattern=NAME_PATTERN)`."""
    return FieldInfo(
        default=default,
        default_factory=default_factory,
        pattern=pattern,
        ge=ge,
        le=le,
        gt=gt,
        min_length=min_length,
        alias=alias,
    )


STRICT = FieldInfo()  # marker: Annotated[bool, STRICT] takes only true or false, not 'yes' or 1
NOT_IN_SCHEMA = FieldInfo(in_schema=False)  # marker: a field set by kpiframe, not written by users
StrictBool = Annotated[bool, STRICT]


def check_field(name: str, *, before: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """Mark a function `(cls, value) -> value` that checks (or, `before`, prepares) one field's value;
    a ValueError it raises is a problem at that field."""

    def mark(function: Callable[..., Any]) -> Any:
        function.__spec_check__ = (name, before)  # type: ignore[attr-defined]
        return classmethod(function)

    return mark


def check_record(function: Callable[[SpecT], SpecT]) -> Callable[[SpecT], SpecT]:
    """Mark a method that checks the whole record after its fields; a ValueError it raises is a problem
    at the record."""
    function.__spec_check__ = ("", False)  # type: ignore[attr-defined]
    return function


class SpecField:
    """One field of a spec class, with its check compiled from the annotation on first use."""

    __slots__ = ("name", "key", "annotation", "info", "owner", "_check")

    def __init__(self, name: str, annotation: Any, info: FieldInfo, owner: type[Spec]) -> None:
        self.name = name
        self.key = info.alias or name  # the key written in YAML
        self.annotation = annotation
        self.info = info
        self.owner = owner
        self._check: Check | None = None

    @property
    def required(self) -> bool:
        return self.info.default is _MISSING and self.info.default_factory is None

    def default_value(self) -> Any:
        if self.info.default_factory is not None:
            return self.info.default_factory()
        value = self.info.default
        return value.copy() if isinstance(value, (list, dict)) else value  # each record its own

    @property
    def check(self) -> Check:
        if self._check is None:
            self._check = compile_check(self.annotation, self.info, vars(sys.modules[self.owner.__module__]))
        return self._check


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
class Spec:
    """A frozen record validated from parsed YAML; unknown keys are errors."""

    model_fields: ClassVar[dict[str, SpecField]] = {}
    _checks: ClassVar[dict[str, tuple[list[Callable[..., Any]], list[Callable[..., Any]]]]] = {}
    _record_checks: ClassVar[list[Callable[..., Any]]] = []
    _by_key: ClassVar[dict[str, SpecField]] = {}  # the fields by the key written in YAML (an alias or the name)
    __slots__ = ("__dict__", "_fields_set")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = dict(cls.model_fields)
        checks = {name: (list(b), list(a)) for name, (b, a) in cls._checks.items()}
        record_checks = list(cls._record_checks)
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            if get_origin(annotation) is ClassVar or name.startswith("_"):
                continue
            declared = cls.__dict__.get(name, _MISSING)
            info = declared if isinstance(declared, FieldInfo) else FieldInfo(default=declared)
            fields[name] = SpecField(name, annotation, info, cls)
            if name in cls.__dict__:
                delattr(cls, name)  # the value lives on each record, not on the class
        for member in cls.__dict__.values():
            function = getattr(member, "__func__", member)
            target = getattr(function, "__spec_check__", None)
            if target is None:
                continue
            name, before = target
            if not name:
                record_checks.append(function)
            else:
                checks.setdefault(name, ([], []))[0 if before else 1].append(member.__get__(None, cls))
        cls.model_fields = fields
        cls._checks = checks
        cls._record_checks = record_checks
        cls._by_key = {f.key: f for f in fields.values()}

    def __init__(self, **data: Any) -> None:
        problems: list[Problem] = []
        if self._fill(self, data, (), problems, False) is FAIL:
            raise SpecInvalid(type(self), problems)

    @classmethod
    def model_validate(cls, data: object) -> Any:
        problems: list[Problem] = []
        record = cls.validate_at(data, (), problems, False)
        if record is FAIL:
            raise SpecInvalid(cls, problems)
        return record

    @classmethod
    def validate_at(cls, data: object, loc: Loc, problems: list[Problem], strict: bool) -> Any:
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            problems.append((loc, "model_type", f"Input should be a valid dictionary or instance of {cls.__name__}"))
            return FAIL
        return cls._fill(object.__new__(cls), data, loc, problems, strict)

    @classmethod
    def _fill(cls, record: Spec, data: dict[Any, Any], loc: Loc, problems: list[Problem], strict: bool) -> Any:
        found = len(problems)
        for key in data:
            if key not in cls._by_key:
                problems.append(((*loc, key), "extra_forbidden", "Extra inputs are not permitted"))
        values: dict[str, Any] = {}
        fields_set: set[str] = set()
        for spec_field in cls.model_fields.values():
            if spec_field.key not in data:
                if spec_field.required:
                    problems.append(((*loc, spec_field.key), "missing", "Field required"))
                else:
                    values[spec_field.name] = spec_field.default_value()
                continue
            values[spec_field.name] = cls._field_value(spec_field, data[spec_field.key], loc, problems, strict)
            fields_set.add(spec_field.name)
        if len(problems) > found:
            return FAIL
        object.__setattr__(record, "__dict__", values)
        object.__setattr__(record, "_fields_set", fields_set)
        for check in cls._record_checks:
            try:
                check(record)
            except ValueError as exc:
                problems.append((loc, "value_error", f"Value error, {exc}"))
                return FAIL
        return record

    @classmethod
    def _field_value(cls, spec_field: SpecField, value: Any, loc: Loc, problems: list[Problem], strict: bool) -> Any:
        where = (*loc, spec_field.key)
        before, after = cls._checks.get(spec_field.name, ([], []))
        try:
            for check in before:
                value = check(value)
            value = spec_field.check(value, where, problems, strict)
            if value is FAIL:
                return FAIL
            for check in after:
                value = check(value)
        except ValueError as exc:
            problems.append((where, "value_error", f"Value error, {exc}"))
            return FAIL
        return value

    # --- what pydantic users expect of a record ----------------------------------------------------------
    @property
    def model_fields_set(self) -> set[str]:
        """The fields the data set, as opposed to those left at their default."""
        fields_set: set[str] = object.__getattribute__(self, "_fields_set")
        return fields_set

    def model_copy(self: SpecT, *, update: dict[str, Any] | None = None) -> SpecT:
        """A shallow copy with `update`'s fields replaced (not validated: the caller's values are trusted)."""
        copy = object.__new__(type(self))
        object.__setattr__(copy, "__dict__", {**self.__dict__, **(update or {})})
        object.__setattr__(copy, "_fields_set", self.model_fields_set | set(update or {}))
        return copy

    def model_dump(
        self,
        *,
        mode: Literal["python", "json"] = "python",
        by_alias: bool = False,
        exclude: set[str] | None = None,
        exclude_none: bool = False,
        exclude_defaults: bool = False,
    ) -> dict[str, Any]:
        """The record as plain data (`mode='json'`: dates as ISO text), fields in declaration order."""
        dumped: dict[str, Any] = {}
        for spec_field in self.model_fields.values():
            if exclude and spec_field.name in exclude:
                continue
            value = self.__dict__[spec_field.name]
            if exclude_none and value is None:
                continue
            if exclude_defaults and not spec_field.required and value == spec_field.default_value():
                continue
            key = spec_field.key if by_alias else spec_field.name
            dumped[key] = _dump(value, mode, by_alias, exclude_none, exclude_defaults)
        return dumped

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: use model_copy(update={{...}})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash((type(self), *self.__dict__.values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.__dict__.items())
        return f"{type(self).__name__}({shown})"

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        yield from self.__dict__.items()


def _dump(value: Any, mode: str, by_alias: bool, exclude_none: bool, exclude_defaults: bool) -> Any:
    if isinstance(value, Spec):
        return value.model_dump(
            mode="json" if mode == "json" else "python",
            by_alias=by_alias,
            exclude_none=exclude_none,
            exclude_defaults=exclude_defaults,
        )
    if isinstance(value, list):
        return [_dump(item, mode, by_alias, exclude_none, exclude_defaults) for item in value]
    if isinstance(value, dict):
        return {k: _dump(v, mode, by_alias, exclude_none, exclude_defaults) for k, v in value.items()}
    if mode == "json" and isinstance(value, date):
        return value.isoformat()
    return value


# --- checks compiled from annotations -------------------------------------------------------------------
def compile_check(annotation: Any, info: FieldInfo | None, namespace: dict[str, Any]) -> Check:
    """The check of one annotation with its field's constraints."""
    if isinstance(annotation, str):  # a forward reference: resolved in the module that declares it
        annotation = eval(annotation, namespace)  # noqa: S307  the project's own source text, not user input
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extras = get_args(annotation)
        merged = _merged(info, [e for e in extras if isinstance(e, FieldInfo)])
        strict = any(e is STRICT for e in extras)
        return _strict_bool if base is bool and strict else compile_check(base, merged, namespace)
    if origin in (Union, types.UnionType):
        return _union_check([compile_check(a, info, namespace) for a in get_args(annotation)], get_args(annotation))
    if origin is Literal:
        return _literal_check(get_args(annotation))
    if origin is list:
        return _list_check(compile_check(get_args(annotation)[0], None, namespace), info)
    if origin is dict:
        key, value = get_args(annotation)
        return _dict_check(compile_check(key, None, namespace), compile_check(value, None, namespace))
    if isinstance(annotation, type) and issubclass(annotation, Spec):
        return annotation.validate_at
    scalar = _SCALARS.get(annotation)
    if scalar is None:
        raise TypeError(f"spec fields cannot be of type {annotation!r}")
    return _constrained(scalar, info) if info is not None else scalar


def _merged(info: FieldInfo | None, extras: list[FieldInfo]) -> FieldInfo | None:
    found = [i for i in (info, *extras) if i is not None and i is not STRICT]
    if not found:
        return None
    merged = FieldInfo()
    for each in found:
        for name in ("pattern", "ge", "le", "gt", "min_length"):
            if getattr(each, name) is not None:
                setattr(merged, name, getattr(each, name))
    return merged


def _any(value: Any, loc: Loc, problems: list[Problem], strict: bool) -> Any:
    return value


def _none(value: Any, loc: Loc, problems: list[Problem], strict: bool) -> Any:
    if value is None:
        return None
    problems.append((loc, "none_required", "Input should be None"))
    return FAIL


def _str(value: Any, loc: Loc, problems: list[Problem], strict: bool) -> Any:
    if isinstance(value, str):
        return value
    problems.append((loc, "string_type", "Input should be a valid string"))
    return FAIL


_INT_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")


def _int(value: Any, loc: Loc, problems: list[Problem], strict: bool) -> Any:
    if type(value) is int:
        return value
    if not strict:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, float):
            if value.is_integer():
                return int(value)
            problems.append(
                (loc, "int_from_float", "Input should be a valid integer, got a number with a fractional part")
            )
            return FAIL
        if isinstance(value, str):
            if _INT_TEXT.match(value):
                return int(value)
            problems.append(
                (loc, "int_parsing", "Input should be a valid integer, unable to parse string as an integer")
            )
            return FAIL
    problems.append((loc, "int_type", "Input should be a valid integer"))
    return FAIL


def _float(value: Any, loc: Loc, problems: list[Problem], strict: bool) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not strict:
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                problems.append(
                    (loc, "float_parsing", "Input should be a valid number, unable to parse string as a number")
                )
                return FAIL
    problems.append((loc, "float_type", "Input should be a valid number"))
    return FAIL


_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}


def _bool(value: Any, loc: Loc, problems: list[Problem], strict: bool) -> Any:
    if isinstance(value, bool):
        return value
    if not strict:
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, (str, int, float)):
            problems.append((loc, "bool_parsing", "Input should be a valid boolean, unable to interpret input"))
            return FAIL
    problems.append((loc, "bool_type", "Input should be a valid boolean"))
    return FAIL


def _strict_bool(value: Any, loc: Loc, problems: list[Problem], strict: bool) -> Any:
    return _bool(value, loc, problems, True)


def _date(value: Any, loc: Loc, problems: list[Problem], strict: bool) -> Any:
    if isinstance(value, datetime):
        if not strict and value.time() == datetime.min.time() and value.tzinfo is None:
            return value.date()
        problems.append(
            (
                loc,
                "date_from_datetime_inexact",
                "Datetimes provided to dates should have zero time - e.g. be exact dates",
            )
        )
        return FAIL
    if isinstance(value, date):
        return value
    if isinstance(value, str) and not strict:
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
                return date.fromisoformat(value.strip())
            reason = "expected a date written YYYY-MM-DD"
        except ValueError as exc:
            reason = str(exc)
        problems.append((loc, "date_parsing", f"Input should be a valid date or datetime, {reason}"))
        return FAIL
    problems.append((loc, "date_type", "Input should be a valid date"))
    return FAIL


_SCALARS: dict[Any, Check] = {
    object: _any,
    Any: _any,
    type(None): _none,
    None: _none,
    str: _str,
    int: _int,
    float: _float,
    bool: _bool,
    date: _date,
}


def _constrained(check: Check, info: FieldInfo) -> Check:
    pattern = re.compile(info.pattern) if info.pattern else None
    bounds = [
        (bound, holds, kind, words)
        # pydantic's order: a NaN fails every bound and is reported at the first (`max_drop: .nan` must not
        # pass as a fraction)
        for bound, holds, kind, words in (
            (info.le, operator.le, "less_than_equal", "less than or equal to"),
            (info.ge, operator.ge, "greater_than_equal", "greater than or equal to"),
            (info.gt, operator.gt, "greater_than", "greater than"),
        )
        if bound is not None
    ]
    if pattern is None and not bounds:
        return check

    def constrained(value: Any, loc: Loc, problems: list[Problem], strict: bool) -> Any:
        value = check(value, loc, problems, strict)
        if value is FAIL:
            return FAIL
        if pattern is not None and not pattern.search(value):
            problems.append((loc, "string_pattern_mismatch", f"String should match pattern '{info.pattern}'"))
            return FAIL
        for bound, holds, kind, words in bounds:
            if not holds(value, bound):
                problems.append((loc, kind, f"Input should be {words} {bound}"))
                return FAIL
        return value

    return constrained


def _literal_check(options: tuple[Any, ...]) -> Check:
    shown = [repr(o) for o in options]
    expected = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"

    def literal(value: Any, loc: Loc, problems: list[Problem], strict: bool) -> Any:
        for option in options:
            if value == option and type(value) is type(option):
                return option
        problems.append((loc, "literal_error", f"Input should be {expected}"))
        return FAIL

    return literal


def _list_check(item: Check, info: FieldInfo | None) -> Check:
    min_length = info.min_length if info is not None else None

    def checked_list(value: Any, loc: Loc, problems: list[Problem], strict: bool) -> Any:
        if not isinstance(value, (list, tuple)):
            problems.append((loc, "list_type", "Input should be a valid list"))
            return FAIL
        found = len(problems)
        items = [item(v, (*loc, index), problems, strict) for index, v in enumerate(value)]
        if len(problems) > found:
            return FAIL
        if min_length is not None and len(items) < min_length:
            noun = "item" if min_length == 1 else "items"
            problems.append(
                (loc, "too_short", f"List should have at least {min_length} {noun} after validation, not {len(items)}")
            )
            return FAIL
        return items

    return checked_list


def _dict_check(key: Check, item: Check) -> Check:
    def checked_dict(value: Any, loc: Loc, problems: list[Problem], strict: bool) -> Any:
        if not isinstance(value, dict):
            problems.append((loc, "dict_type", "Input should be a valid dictionary"))
            return FAIL
        found = len(problems)
        checked = {
            key(k, (*loc, k, "[key]"), problems, strict): item(v, (*loc, k), problems, strict) for k, v in value.items()
        }
        return FAIL if len(problems) > found else checked

    return checked_dict


def _union_check(members: list[Check], annotations: tuple[Any, ...]) -> Check:
    """pydantic's 'smart' union, simplified: the first member that takes the value as it is, else the
    first that takes it converted; `X | None` reports X's problem alone."""
    if type(None) in annotations:  # X | None, or (X | Y) | None: None, else what the rest says
        index = annotations.index(type(None))
        rest = annotations[:index] + annotations[index + 1 :]
        inner = members[index ^ 1] if len(rest) == 1 else _union_check(members[:index] + members[index + 1 :], rest)

        def optional(value: Any, loc: Loc, problems: list[Problem], strict: bool) -> Any:
            return None if value is None else inner(value, loc, problems, strict)

        return optional
    tags = [_tag(a) for a in annotations]

    def union(value: Any, loc: Loc, problems: list[Problem], strict: bool) -> Any:
        for exact in (True, False) if not strict else (True,):
            for member in members:
                tried: list[Problem] = []
                result = member(value, loc, tried, exact)
                if result is not FAIL:
                    return result
        for member, tag in zip(members, tags, strict=True):
            member(value, (*loc, tag), problems, strict)
        return FAIL

    return union


def _tag(annotation: Any) -> str:
    """How pydantic names a union member in an error's path: str, int, literal['a','b'], ModelSpec."""
    if get_origin(annotation) is Literal:
        return f"literal[{','.join(repr(a) for a in get_args(annotation))}]"
    if get_origin(annotation) is Annotated:
        return _tag(get_args(annotation)[0])
    if annotation is type(None):
        return "none"
    return getattr(annotation, "__name__", str(annotation))
