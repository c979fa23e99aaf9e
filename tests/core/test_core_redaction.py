"""Credentials are masked wherever they could reach a file: URL passwords, key-like query values, API keys."""

from __future__ import annotations

import pytest

from agentrec.core.redaction import redact_secrets, redact_url


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("http://user:s3cretpass@127.0.0.1:9/v1", "http://***@127.0.0.1:9/v1"),
        ("https://tok3n@api.example.com/v1", "https://***@api.example.com/v1"),
        ("https://host/v1?api-key=abc123&model=x", "https://host/v1?api-key=***&model=x"),
        ("https://host/v1?sig=zz", "https://host/v1?sig=***"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        ("https://host/v1?model=x", "https://host/v1?model=x"),
    ],
)
def test_redact_url_masks_credentials_and_keeps_the_endpoint(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


def test_redact_secrets_masks_environment_keys_and_url_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-canary-123")
    monkeypatch.setenv("SHORT_KEY", "abc")  # too short to mask without masking ordinary words
    message = "401 from http://user:s3cretpass@host/v1 for key sk-fake-canary-123 (abc)"
    assert redact_secrets(message) == "401 from http://***@host/v1 for key *** (abc)"
