"""The packs this service offers, by name; tests and later packs register more."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from kpi_service.packs.agent import AGENT
from kpi_service.packs.crm import CRM
from kpi_service.packs.model import Pack
from kpi_service.packs.revenue import REVENUE
from kpi_service.packs.saas import SAAS
from kpi_service.packs.support import SUPPORT


class PackRegistry:
    """The newest version of each pack, by name."""

    def __init__(self, packs: Iterable[Pack] = ()) -> None:
        self._packs: dict[str, Pack] = {}
        for pack in packs:
            self.register(pack)

    def register(self, pack: Pack) -> Pack | None:
        """Offer this pack (a new version replaces the one registered); the one it replaced."""
        previous = self._packs.get(pack.name)
        self._packs[pack.name] = pack
        return previous

    def unregister(self, name: str) -> None:
        """Stop offering the pack of that name."""
        self._packs.pop(name, None)

    @contextmanager
    def registered(self, pack: Pack) -> Iterator[Pack]:
        """Offer this pack for the duration of the block, then what was offered before."""
        previous = self.register(pack)
        try:
            yield pack
        finally:
            if previous is None:
                self.unregister(pack.name)
            else:
                self.register(previous)

    def get(self, name: str) -> Pack | None:
        """The pack of that name, if offered."""
        return self._packs.get(name)

    def all(self) -> list[Pack]:
        """Every pack offered, by name."""
        return [self._packs[name] for name in sorted(self._packs)]


PACKS = PackRegistry((SUPPORT, AGENT, CRM, SAAS, REVENUE))
