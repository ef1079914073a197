"""``open_storage``: build a backend (or a cascade) from a URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from alert_storage.base import AlertStorage
from alert_storage.errors import ConfigurationError
from alert_storage.file import FileStorage
from alert_storage.memory import MemoryStorage
from alert_storage.redact import redact_url
from alert_storage.redis_storage import RedisStorage

REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "redis+sentinel")


def open_storage(url: str, **options: Any) -> AlertStorage:
    """Open the storage a URL names.

    ``memory://`` gives a ``MemoryStorage``; ``file:///path/to/dir`` a
    ``FileStorage`` on that directory; ``redis://``, ``rediss://``,
    ``unix://``, ``redis+cluster://host:port[,host:port]`` and
    ``redis+sentinel://host:port[,host:port]/service`` a ``RedisStorage``.
    With ``fallback_dir=...`` a Redis URL gives a ``CascadeStorage`` of Redis,
    then a file tier in that directory, then memory.

    Args:
        url: Where to store alerts.
        **options: Passed to the backend (``policy``, ``clock``, ``namespace``,
            ``fsync``...).

    Returns:
        The storage, ready to use; close it (or use it as a context manager).

    Raises:
        ConfigurationError: unknown scheme or bad options.
    """
    if not isinstance(url, str):
        raise ConfigurationError("storage URL must be a str")
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        return MemoryStorage(**options)
    if scheme == "file":
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise ConfigurationError(f"file URL needs an absolute path: {url!r}")
        return FileStorage(unquote(parts.path), **options)
    if scheme in REDIS_SCHEMES:
        if "fallback_dir" in options:
            return _open_cascade(url, options)
        return RedisStorage(url, **options)
    raise ConfigurationError(f"unsupported storage URL {redact_url(url)!r}")


def _open_cascade(url: str, options: dict[str, Any]) -> AlertStorage:
    from alert_storage.cascade import CascadeStorage

    cascade: AlertStorage = CascadeStorage.from_url(url, **options)
    return cascade
