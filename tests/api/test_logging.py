"""Structured JSON logs: secrets are redacted everywhere, requests are logged with their id."""

from __future__ import annotations

import json
import logging
import string
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from awoooi.api.app import create_app
from awoooi.core.logging import (
    REDACTED,
    configure_logging,
    get_logger,
    redact_text,
    redact_value,
)
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings

URL_SAFE = string.ascii_letters + string.digits + "-_"

KEY_TOKEN = "awi_KeyValueTokenAAAAAAAAAAAAAAAAAAAA"
FREE_TOKEN = "awi_FreeTextTokenBBBBBBBBBBBBBBBBBBBB"
BEARER_TOKEN = "awi_BearerTokenCCCCCCCCCCCCCCCCCCCCCC"
PASSWORD = "hunter2-correct-horse"
URL_PASSWORD = "s3cret"


@pytest.fixture(autouse=True)
def reset_logging() -> Iterator[None]:
    """Put the default logging setup back once the test is over."""
    yield
    configure_logging()
    # configure_logging() bound its handler to sys.stderr, which under pytest is a capture file
    # closed after this phase; the process's real stderr (fd 2, still captured) outlives it.
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.__stderr__)


def start_json_logging(capfd: pytest.CaptureFixture[str], level: str = "info") -> None:
    """JSON logs into the stderr capfd captures (called in the test body: pytest swaps the
    capture stream between the setup and call phases, so a fixture would bind a stale one)."""
    configure_logging(log_format="json", level=level)
    capfd.readouterr()


def json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every line of stderr, each of which must be a JSON object."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(item, dict) for item in parsed)
    return parsed


def test_json_log_redacts_secrets(capfd: pytest.CaptureFixture[str]) -> None:
    start_json_logging(capfd)
    log = get_logger("awoooi.test")
    log.info(
        f"connecting to postgresql+asyncpg://u:{URL_PASSWORD}@h/db with {FREE_TOKEN} now",
        token=KEY_TOKEN,
        password=PASSWORD,
        authorization=f"Bearer {BEARER_TOKEN}",
        token_path="/srv/awoooi/admin-token",
        token_prefix="awi_Key",
        nested={"api_key": "plain-key-value", "note": f"see {FREE_TOKEN}"},
        attempts=3,
    )
    err = capfd.readouterr().err
    for secret in (KEY_TOKEN, FREE_TOKEN, BEARER_TOKEN, PASSWORD, URL_PASSWORD, "plain-key-value"):
        assert secret not in err
    assert REDACTED in err
    lines = json_lines(err)
    assert len(lines) == 1
    line = lines[0]
    assert line["event"] == (
        "connecting to postgresql+asyncpg://u:[REDACTED:password]@h/db"
        " with [REDACTED:awoooi_token] now"
    )
    assert line["token"] == REDACTED
    assert line["password"] == REDACTED
    assert line["authorization"] == REDACTED
    assert line["token_path"] == "/srv/awoooi/admin-token"
    assert line["token_prefix"] == "awi_Key"
    assert line["nested"] == {"api_key": REDACTED, "note": "see [REDACTED:awoooi_token]"}
    assert line["attempts"] == 3
    assert line["level"] == "info"
    assert line["logger"] == "awoooi.test"
    assert "timestamp" in line


def test_stdlib_records_are_redacted_too(capfd: pytest.CaptureFixture[str]) -> None:
    start_json_logging(capfd)
    logging.getLogger("uvicorn.error").warning(
        "dsn postgresql://admin:%s@db/x and Authorization: Bearer %s", PASSWORD, BEARER_TOKEN
    )
    err = capfd.readouterr().err
    assert PASSWORD not in err
    assert BEARER_TOKEN not in err
    [line] = json_lines(err)
    assert line["event"] == (
        "dsn postgresql://admin:[REDACTED:password]@db/x"
        " and Authorization: Bearer [REDACTED:awoooi_token]"
    )
    assert line["level"] == "warning"


def test_exception_text_is_redacted(capfd: pytest.CaptureFixture[str]) -> None:
    start_json_logging(capfd)
    log = get_logger("awoooi.test")
    try:
        raise RuntimeError(f"cannot reach postgresql://u:{PASSWORD}@h/db using {FREE_TOKEN}")
    except RuntimeError:
        log.exception("operation failed")
    err = capfd.readouterr().err
    assert PASSWORD not in err
    assert FREE_TOKEN not in err
    [line] = json_lines(err)
    assert line["event"] == "operation failed"
    assert "RuntimeError: cannot reach postgresql://u:[REDACTED:password]@h/db" in line["exception"]


def test_level_filter_applies(capfd: pytest.CaptureFixture[str]) -> None:
    start_json_logging(capfd, level="warning")
    log = get_logger("awoooi.test")
    log.info("quiet")
    log.warning("loud")
    assert [line["event"] for line in json_lines(capfd.readouterr().err)] == ["loud"]


async def test_request_is_logged_with_its_id(
    client: httpx.AsyncClient, capfd: pytest.CaptureFixture[str]
) -> None:
    start_json_logging(capfd)
    response = await client.get(
        f"/healthz?token={KEY_TOKEN}",
        headers={"X-Request-ID": "log-req-1", "Authorization": f"Bearer {BEARER_TOKEN}"},
    )
    assert response.status_code == 200
    err = capfd.readouterr().err
    assert KEY_TOKEN not in err
    assert BEARER_TOKEN not in err
    requests = [line for line in json_lines(err) if line["event"] == "request"]
    assert len(requests) == 1
    line = requests[0]
    assert line["request_id"] == "log-req-1"
    assert line["method"] == "GET"
    assert line["path"] == "/healthz"
    assert line["status"] == 200
    assert line["logger"] == "awoooi.http"
    assert line["level"] == "info"
    assert isinstance(line["duration_ms"], int | float)


async def test_unhandled_error_is_logged_redacted(
    settings: Settings, runtime: Runtime, capfd: pytest.CaptureFixture[str]
) -> None:
    start_json_logging(capfd)
    application = create_app(settings, runtime=runtime, run_worker=False)

    async def explode() -> None:
        raise RuntimeError(f"leaking {FREE_TOKEN} and postgresql://u:{PASSWORD}@h/db")

    application.add_api_route("/explode", explode, methods=["GET"])
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/explode", headers={"X-Request-ID": "log-boom-1"})
    assert response.status_code == 500
    err = capfd.readouterr().err
    assert FREE_TOKEN not in err
    assert PASSWORD not in err
    lines = json_lines(err)
    errors = [line for line in lines if line["event"] == "unhandled error"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "log-boom-1"
    assert errors[0]["level"] == "error"
    assert errors[0]["path"] == "/explode"
    assert "RuntimeError: leaking [REDACTED:awoooi_token]" in errors[0]["exception"]
    [access] = [line for line in lines if line["event"] == "request"]
    assert (access["request_id"], access["status"]) == ("log-boom-1", 500)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("token", "anything", REDACTED),
        ("admin_token", "anything", REDACTED),
        ("Password", "x", REDACTED),
        ("passwd", "x", REDACTED),
        ("client_secret", "x", REDACTED),
        ("api-key", "x", REDACTED),
        ("Cookie", "session=1", REDACTED),
        ("private_key", "-----BEGIN", REDACTED),
        ("token", None, None),
        ("token", "", ""),
        ("token_path", "/a/admin-token", "/a/admin-token"),
        ("token_file", "/a/t", "/a/t"),
        ("password_env", "DB_PASSWORD", "DB_PASSWORD"),
        ("token_name", "grafana", "grafana"),
        ("token_count", 3, 3),
        ("user", "alice", "alice"),
        ("tokens", ["a", "b"], REDACTED),
        ("items", [f"x {FREE_TOKEN}"], ["x [REDACTED:awoooi_token]"]),
        ("items", ({"secret": "v"},), [{"secret": REDACTED}]),
    ],
)
def test_redact_value(key: str, value: object, expected: object) -> None:
    assert redact_value(key, value) == expected


def test_redact_text_leaves_plain_text_alone() -> None:
    plain = "GET /api/v1/tokens/{name} 200 awi_ short https://example.org/path"
    assert redact_text(plain) == plain


@given(st.text(alphabet=URL_SAFE, min_size=16, max_size=96))
def test_redact_text_hides_embedded_tokens(secret: str) -> None:
    redacted = redact_text(f"x awi_{secret} y")
    assert secret not in redacted
    assert redacted == "x [REDACTED:awoooi_token] y"


@given(st.text(alphabet=URL_SAFE, min_size=16, max_size=96))
def test_redact_text_hides_url_passwords(secret: str) -> None:
    redacted = redact_text(f"postgresql://user:{secret}@host/db")
    assert secret not in redacted
    assert redacted.startswith("postgresql://user:[REDACTED:")
    assert redacted.endswith("]@host/db")


@given(st.text(alphabet=URL_SAFE, min_size=16, max_size=96))
def test_redact_text_hides_bearer_credentials(secret: str) -> None:
    redacted = redact_text(f"Authorization: Bearer {secret}")
    assert secret not in redacted
    assert redacted.startswith("Authorization: Bearer [REDACTED:")
    assert redacted.endswith("]")


def test_redaction_of_long_unbroken_text_completes() -> None:
    """A 1 MiB blob without spaces or '://' comes back unchanged (no quadratic backtracking)."""
    blob = "ab12" * (256 * 1024)
    assert redact_text(blob) == blob
    assert (
        redact_text(blob + " postgresql://u:s3cretpw@h/db")
        == blob + " postgresql://u:[REDACTED:password]@h/db"
    )


async def test_start_warns_about_deprecated_keys_and_a_telegram_link_it_would_refuse(
    tmp_path: Path, database_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    # Issue 18: Telegram configured with public_url left at an http address.
    configured = make_settings(
        tmp_path / "home",
        database_url,
        notify={"telegram": {"bot_token": "123456:ABC-secret-token", "chat_id": "-100123"}},
        knowledge={"public_url": "http://awoooi.internal:8080"},
    )
    assert configured.public_url == "http://awoooi.internal:8080"
    start_json_logging(capfd)
    app = create_app(configured, run_worker=False)
    async with app.router.lifespan_context(app):
        pass
    warnings = [
        line["problem"]
        for line in json_lines(capfd.readouterr().err)
        if line["event"] == "configuration"
    ]
    assert [line.split(":")[0] for line in warnings] == [
        "knowledge.public_url (env AWOOOI_KNOWLEDGE__PUBLIC_URL) is deprecated",
        "public_url is http",
    ]
    assert "Telegram refuses link buttons" in warnings[1]
