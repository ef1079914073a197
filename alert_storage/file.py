"""Placeholder: the file backend is being written (see issue 2)."""

from __future__ import annotations

from alert_storage.memory import MemoryStorage


class FileStorage(MemoryStorage):
    """Being written."""

    backend_name = "file"

    def __init__(self, directory: object, **options: object) -> None:
        raise NotImplementedError
