"""Credentials never reach a file: the one place that masks them.

Two kinds reach agentrec: a ``user:password@`` part in an endpoint URL (a
scenario's ``[llm] api_base``, the CLI's ``--api-base``) and API keys in the
environment, which provider error messages sometimes echo. Whatever is written
to the state home (run records, traces, caches, reports) and could hold either
goes through ``redact_url`` or ``redact_secrets`` first.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
# Environment variables whose values are secrets, by the suffix of their name.
SECRET_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
# Shorter values would mask ordinary words in a message.
_MIN_SECRET_LENGTH = 8
# scheme://userinfo@ inside free text: the userinfo is masked.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")
# name=value in a query string, where the name says key, token, secret, password or signature.
_SECRET_QUERY_VALUE = re.compile(r"(?P<name>(?:^|&)[^=&]*(?:key|token|secret|password|sig)[^=&]*=)[^&]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with a ``user:password@`` part and key-like query values (``?api_key=...``) masked.

    Everything else is kept as written, so the endpoint stays recognisable.
    """
    parts = urlsplit(url)
    if "@" in parts.netloc:
        parts = parts._replace(netloc=f"{MASK}@{parts.netloc.rpartition('@')[2]}")
    if parts.query:
        parts = parts._replace(query=_SECRET_QUERY_VALUE.sub(rf"\g<name>{MASK}", parts.query))
    return urlunsplit(parts)


def redact_secrets(text: str) -> str:
    """``text`` with URL credentials and the value of every key-like environment variable masked."""
    text = _URL_CREDENTIALS.sub(rf"\g<scheme>{MASK}@", text)
    for name, value in os.environ.items():
        if len(value) >= _MIN_SECRET_LENGTH and name.upper().endswith(SECRET_SUFFIXES):
            text = text.replace(value, MASK)
    return text
