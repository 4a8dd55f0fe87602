"""Property: whatever text an Alertmanager batch carries, ingestion never answers 5xx, stores
every valid alert and accounts for every alert it was sent (taken in + rejected == sent).

The body is written by hand (`json.dumps` with ASCII escapes), so NUL, lone surrogates (as
`\\ud800` escapes), right-to-left marks, 4-byte characters and long values reach the server
exactly as a careless sender would write them; some alerts also carry a structural fault.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from sqlalchemy import select

from awoooi.core.models import Role
from awoooi.incidents.models import IncidentAlert
from awoooi.incidents.redaction import redacted_fingerprint
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings
from tests.incidents.conftest import TokenFactory

AM = "/api/v1/alerts/alertmanager"
# What the databases cannot hold, and what the edge turns it into.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
POISON = ["\x00", "\ud800", "\udbff", "\udc00", "\udfff", "\u200f", "\u202e", "\U0001f525", "é"]
FAULTS = ["status", "fingerprint", "starts_at", "labels"]


@dataclass(frozen=True)
class GeneratedAlert:
    """One alert as sent, and the fault that should get it rejected (None: it must be taken)."""

    body: dict[str, Any]
    fault: str | None


def cleaned(text: str) -> str:
    """The text as the database must end up holding it."""
    return UNSTORABLE.sub("\ufffd", text)


characters = st.one_of(st.characters(), st.sampled_from(POISON))
texts = st.text(alphabet=characters, max_size=40)
long_texts = st.builds(
    lambda char, size: char * size, st.sampled_from(POISON), st.integers(1, 4096)
)
values = st.one_of(texts, long_texts)
label_names = st.text(alphabet=characters, min_size=1, max_size=64)


@st.composite
def alerts(draw: st.DrawFn) -> GeneratedAlert:
    labels = draw(st.dictionaries(label_names, values, max_size=6))
    labels["alertname"] = draw(texts)
    body: dict[str, Any] = {
        "status": draw(st.sampled_from(["firing", "resolved"])),
        "labels": labels,
        "annotations": draw(st.dictionaries(label_names, values, max_size=3)),
        "startsAt": "2026-11-28T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": draw(texts),
        # A unique prefix: the same database serves every example.
        "fingerprint": uuid.uuid4().hex[:24] + draw(texts.filter(lambda t: len(t) <= 40)),
    }
    fault = draw(st.one_of(st.none(), st.none(), st.none(), st.sampled_from(FAULTS)))
    if fault == "status":
        body["status"] = draw(texts.filter(lambda t: t not in ("firing", "resolved")))
    elif fault == "fingerprint":
        del body["fingerprint"]
    elif fault == "starts_at":
        body["startsAt"] = "9999-12-31T23:59:59-01:00"
    elif fault == "labels":
        body["labels"] = [draw(texts)]
    return GeneratedAlert(body, fault)


@st.composite
def batches(draw: st.DrawFn) -> tuple[str, list[GeneratedAlert]]:
    sent = draw(st.lists(alerts(), max_size=5))
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": draw(texts),
        "groupKey": draw(texts),
        "groupLabels": draw(st.dictionaries(label_names, texts, max_size=2)),
        "commonLabels": {},
        "commonAnnotations": draw(st.dictionaries(label_names, texts, max_size=2)),
        "externalURL": draw(texts),
        "alerts": [alert.body for alert in sent],
    }
    return json.dumps(payload, ensure_ascii=True), sent


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Room for long values of 4-byte characters, which ASCII escapes make big on the wire."""
    return make_settings(tmp_path / "home", database_url, max_body_bytes=8 * 1024 * 1024)


async def fingerprints_stored(runtime: Runtime) -> set[str]:
    async with runtime.session_factory() as session:
        return set(await session.scalars(select(IncidentAlert.fingerprint)))


# One app and database serve every example (the fingerprints are unique per example).
@hypothesis.settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=batches())
async def test_any_text_in_a_batch_is_taken_or_rejected_never_a_5xx(
    client: httpx.AsyncClient,
    runtime: Runtime,
    headers_for: TokenFactory,
    batch: tuple[str, list[GeneratedAlert]],
) -> None:
    raw, sent = batch
    ingest = {**(await headers_for(Role.INGEST)), "Content-Type": "application/json"}

    response = await client.post(AM, content=raw.encode("ascii"), headers=ingest)

    assert response.status_code < 500, response.text
    faulty = [index for index, alert in enumerate(sent) if alert.fault]
    valid = [alert for alert in sent if not alert.fault]
    if sent and not valid:
        # Nothing could be taken: the batch is refused, each fault named.
        assert response.status_code == 422, response.text
        named = {problem["loc"][2] for problem in response.json()["detail"]}
        assert named == set(faulty)
        return
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["alerts"] + len(body["rejected"]) == len(sent)
    assert [item["index"] for item in body["rejected"]] == faulty
    assert body["alerts"] == len(valid)
    stored = await fingerprints_stored(runtime)
    for alert in valid:
        if alert.body["status"] == "firing":
            # Stored as sent, or hashed when it looks like it holds a secret (a random-looking
            # run of 32+ characters does).
            assert redacted_fingerprint(cleaned(alert.body["fingerprint"])) in stored
