"""Reading a configuration file into a typed model, with errors that name the file, the key path and the line.

Every configuration file (the funnel registry, sources, targets, quality, improvement, hypotheses) is YAML
validated by a pydantic model that rejects unknown keys. PyYAML's composer keeps each node's position, so a
validation error at `lag_days.marketing` can say on which line of which file that key is; all errors of a file
are reported at once.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

Model = TypeVar("Model", bound=pydantic.BaseModel)

#: Exit status of a command stopped by a configuration error (1 is a run or check that failed).
EXIT_CONFIG_ERROR = 2


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or invalid; str() is the message an operator reads."""


class Problems(ValueError):
    """Raised by a model validator for rules across keys (months that repeat, a rate no month has): each problem
    carries the key path it is about, relative to the model, so each is reported at its own line, all at once."""

    def __init__(self, problems: list[tuple[tuple, str]]):
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems


class Strict(pydantic.BaseModel):
    """Base of every configuration model: unknown keys are errors, values are not coerced across types."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=True)

    @pydantic.model_validator(mode="before")
    @classmethod
    def _empty_is_default(cls, data: Any) -> Any:
        """A known key written with no value (`handoffs:` with every entry commented out) means its default,
        as if the line were not there, and a section with nothing in it has every default; an unknown key stays,
        to be reported."""
        if data is None:
            return {}
        if not isinstance(data, dict):
            return data
        known = {field.alias or name for name, field in cls.model_fields.items()}
        return {key: value for key, value in data.items() if value is not None or key not in known}


def _lines(node: yaml.Node, path: tuple, out: dict[tuple, int]) -> None:
    """Map every key path of a composed YAML document to the 1-based line it starts on: the line of the key,
    not of its value, which for a nested block starts on the next line."""
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*path, key.value)] = key.start_mark.line + 1
            _lines(value, (*path, key.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, except that an impossible date (2026-13-01) is a YAML error at its line instead of
    a bare ValueError from the date constructor."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value} is not a date ({exc})", node.start_mark
            ) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def read_yaml(path: Path) -> tuple[Any, dict[tuple, int]]:
    """The document and the line of each key path; a missing or malformed file is a ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    try:
        node = yaml.compose(text, Loader=_Loader)
        document = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    lines: dict[tuple, int] = {}
    if node is not None:
        _lines(node, (), lines)
    return document, lines


def _key(location: tuple) -> str:
    parts = []
    for part in location:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts) or "(top level)"


def _line(location: tuple, lines: dict[tuple, int]) -> int | None:
    """The line of the deepest key of `location` the document has (pydantic adds names of union members)."""
    for end in range(len(location), -1, -1):
        if location[:end] in lines:
            return lines[location[:end]]
    return None


def where(path: Path | str, lines: dict[tuple, int], location: tuple) -> str:
    """`file, line N: key.path`: where a configuration error is."""
    line = _line(location, lines)
    return f"{path}, line {line}: {_key(location)}" if line else f"{path}: {_key(location)}"


def located(path: Path | str, lines: dict[tuple, int], location: tuple, message: str) -> str:
    """`file, line N: key.path: message`, the form of every configuration error."""
    return f"{where(path, lines, location)}: {message}"


def _got(problem: dict) -> str:
    """The offending value, when it is short enough to read in the message: ` (got '14%')`; not for a key,
    which the key path already shows."""
    value = problem.get("input")
    if (
        problem["type"] in ("extra_forbidden", "missing")
        or "[key]" in problem["loc"]
        or not isinstance(value, (str, int, float, date))
    ):
        return ""
    return f" (got {value!r})" if isinstance(value, str) else f" (got {value})"


def format_errors(path: Path | str, error: pydantic.ValidationError, lines: dict[tuple, int]) -> str:
    """One line per problem, top to bottom: `file, line N: key.path: what is wrong (got value)`."""
    found: list[tuple[tuple, str]] = []
    for problem in error.errors(include_url=False):
        location = tuple(
            p for p in problem["loc"] if not (isinstance(p, str) and (p.startswith("function-") or p == "[key]"))
        )
        cause = problem.get("ctx", {}).get("error")
        if isinstance(cause, Problems):
            found += [(location + below, message) for below, message in cause.problems]
            continue
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key (a typo?)"
        found.append((location, message + _got(problem)))
    found.sort(key=lambda item: _line(item[0], lines) or 0)
    return "\n".join(dict.fromkeys(located(path, lines, location, message) for location, message in found))


def validate(
    model: type[Model], document: Any, path: Path | str, lines: dict[tuple, int], context: dict | None = None
) -> Model:
    """`document` as `model`, or a ConfigError listing every problem with its line."""
    try:
        return model.model_validate({} if document is None else document, context=context)
    except pydantic.ValidationError as exc:
        raise ConfigError(format_errors(path, exc, lines)) from None


def load(model: type[Model], path: Path, context: dict | None = None) -> Model:
    """Read and validate one configuration file."""
    document, lines = read_yaml(path)
    return validate(model, document, path, lines, context)
