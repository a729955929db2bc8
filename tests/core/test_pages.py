"""Page.of: the one way a service's Slice becomes a list response."""

from __future__ import annotations

import pytest

from kpi_service.core.schemas import Output, Page, Slice


class _ItemRead(Output):
    id: int
    name: str


class _Row:
    """A row read by its attributes, as the ORM's are."""

    def __init__(self, id: int, name: str) -> None:
        self.id = id
        self.name = name


def test_a_page_of_read_models_keeps_its_items_and_cursor() -> None:
    items = [_ItemRead(id=1, name="a"), _ItemRead(id=2, name="b")]
    page = Page[_ItemRead].of(Slice(items, "after-2"))
    assert page.model_dump(mode="json") == {
        "items": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "next_cursor": "after-2",
    }
    assert page.items[0] is items[0]


def test_rows_become_read_models_one_by_one_through_slice_map() -> None:
    page = Page[_ItemRead].of(Slice([_Row(3, "c")], None).map(_ItemRead.model_validate))
    assert page.model_dump(mode="json") == {"items": [{"id": 3, "name": "c"}], "next_cursor": None}


def test_the_page_names_its_item_type() -> None:
    # A bare Page would reach FastAPI as another class than the route's Page[ItemRead].
    with pytest.raises(TypeError):
        Page.of(Slice([_ItemRead(id=1, name="a")], None))
