"""Fixtures of the calculator tests."""

from __future__ import annotations

import pytest

from tests.support.source import SourceServer, SourceState


@pytest.fixture
def state(source: SourceServer) -> SourceState:
    return source.reset()
