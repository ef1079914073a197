"""Helpers that keep credentials out of logs, reprs and exception messages."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_URL_IN_TEXT = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)([^/@\s]*)@")


def redact_url(url: str) -> str:
    """Return ``url`` with any password (and password-like user) replaced.

    ``redis://user:secret@host:6379/0`` becomes ``redis://user:***@host:6379/0``;
    ``redis://secret@host`` (a password given without a user name) becomes
    ``redis://***@host``. Query parameters named like a password are masked too.

    Args:
        url: Any URL-like string.

    Returns:
        The same URL with secrets masked.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if sep else f"***@{hostport}"
    query = _redact_query(parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_query(query: str) -> str:
    if not query:
        return query
    items = []
    for item in query.split("&"):
        key, sep, _value = item.partition("=")
        secret = any(word in key.lower() for word in ("pass", "token", "secret"))
        items.append(f"{key}=***" if sep and secret else item)
    return "&".join(items)


def redact_text(text: str) -> str:
    """Mask the user-info part of every URL found inside free text.

    Args:
        text: An error message or log line that may quote a URL.

    Returns:
        The text with ``scheme://anything@`` turned into ``scheme://***@``.
    """
    return _URL_IN_TEXT.sub(r"\1***@", text)
