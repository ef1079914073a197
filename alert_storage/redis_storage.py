"""Placeholder: the Redis backend is being written (see issue 2)."""

from __future__ import annotations

from alert_storage.memory import MemoryStorage


class RedisStorage(MemoryStorage):
    """Being written."""

    backend_name = "redis"

    def __init__(self, client: object, **options: object) -> None:
        raise NotImplementedError
