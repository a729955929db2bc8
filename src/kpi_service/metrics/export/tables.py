"""A view's response as a flat table: one row per item of its main list, with the columns of
the response around it repeated on every row."""

from __future__ import annotations

import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel


def unwrap_optional(annotation: Any) -> Any:
    """The annotation without `| None`."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _model(annotation: Any) -> type[BaseModel] | None:
    bare = unwrap_optional(annotation)
    return bare if isinstance(bare, type) and issubclass(bare, BaseModel) else None


def _item_model(annotation: Any) -> type[BaseModel] | None:
    """X for a field annotated `list[X]` with X a model."""
    bare = unwrap_optional(annotation)
    if get_origin(bare) is list:
        (item,) = get_args(bare)
        return _model(item)
    return None


@dataclass(frozen=True, slots=True)
class Column:
    """A column: its header and the attribute path that reads it from one level's object."""

    name: str
    path: tuple[str, ...]


def _columns(model: type[BaseModel], prefix: str = "") -> list[Column]:
    """Scalar fields (lists of scalars too) and, flattened with a prefix, nested models;
    lists of models are tables of their own, not columns."""
    found = []
    for name, field in model.model_fields.items():
        nested = _model(field.annotation)
        if nested is not None:
            found += [Column(f"{prefix}{name}_{c.name}", (name, *c.path)) for c in _columns(nested)]
        elif _item_model(field.annotation) is None:
            found.append(Column(prefix + name, (name,)))
    return found


def _read(obj: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        if obj is None:
            return None
        obj = getattr(obj, name)
    return obj


@dataclass(frozen=True)
class Table:
    """How to flatten one response model: the list fields leading to its rows."""

    response: type[BaseModel]
    rows: tuple[str, ...]

    def levels(self) -> list[list[Column]]:
        """The columns of each level, outermost first; a deeper level's column wins a name."""
        models = [self.response]
        for name in self.rows:
            item = _item_model(models[-1].model_fields[name].annotation)
            if item is None:
                raise TypeError(f"{models[-1].__name__}.{name} is not a list of models")
            models.append(item)
        levels = [_columns(m) for m in models]
        taken: set[str] = set()
        for level in reversed(range(len(levels))):
            levels[level] = [c for c in levels[level] if c.name not in taken]
            taken.update(c.name for c in levels[level])
        return levels

    def header(self) -> list[str]:
        return [c.name for level in self.levels() for c in level]

    def values(self, response: BaseModel) -> Iterator[list[Any]]:
        """One list of values per row, in the header's order."""
        levels = self.levels()

        def walk(obj: Any, depth: int, context: list[Any]) -> Iterator[list[Any]]:
            here = context + [_read(obj, c.path) for c in levels[depth]]
            if depth == len(self.rows):
                yield here
                return
            for item in getattr(obj, self.rows[depth]):
                yield from walk(item, depth + 1, here)

        yield from walk(response, 0, [])


def check(tables: Sequence[Table]) -> None:
    """Fail at import time when a table names fields its response does not have."""
    for table in tables:
        table.levels()
