"""The state machine run against the cascade, with Redis going down and back.

The Redis tier runs on fakeredis, whose server can be switched off and on
(``FakeServer.connected``), so an outage costs no timeouts; Redis is probed
only when a rule brings it back and calls ``probe()``.
"""

from __future__ import annotations

from typing import Any

from hypothesis.stateful import precondition, rule

from alert_storage import AlertStorage, StoragePolicy
from alert_storage.cascade import CascadeStorage

from .backends import open_cascade_backend
from .cascade_model import CascadeModel
from .machine import StorageMachine
from .model import ReferenceModel


class CascadeMachine(StorageMachine):
    """Holds a Redis, file and memory cascade to ``CascadeModel``."""

    kind = "cascade"
    outages = True

    def __init__(self) -> None:
        super().__init__()
        self.server: Any = None

    @property
    def cascade_model(self) -> CascadeModel:
        """The model, which for this machine is always a ``CascadeModel``."""
        assert isinstance(self.model, CascadeModel)
        return self.model

    def make_model(self, policy: StoragePolicy) -> CascadeModel:
        """Model each tier on its own, with the replay between them."""
        return CascadeModel(ReferenceModel(policy), ReferenceModel(policy))

    def open_storage(self, policy: StoragePolicy) -> AlertStorage:
        """Open fakeredis, file and memory tiers under one cascade."""
        cascade, self.server = open_cascade_backend(
            self.stack, policy=policy, clock=self.clock
        )
        return cascade

    def reported_name(self) -> str:
        """The file tier serves during an outage, Redis otherwise."""
        return "file" if self.cascade_model.degraded else "redis"

    @precondition(lambda self: self.outages and not self.cascade_model.degraded)
    @rule()
    def redis_goes_down(self) -> None:
        """Redis stops answering; the next call finds out and falls back."""
        self.server.connected = False
        self.cascade_model.go_down()

    @precondition(lambda self: self.cascade_model.degraded)
    @rule()
    def redis_comes_back(self) -> None:
        """Redis answers again; a probe replays the file tier into it."""
        self.server.connected = True
        assert isinstance(self.storage, CascadeStorage)
        assert self.storage.probe() == "redis"
        self.cascade_model.recover(self.clock())
