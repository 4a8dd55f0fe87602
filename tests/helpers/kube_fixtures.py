"""Fixtures for tests that talk to the local API-server stand-in through the real client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from awoooi.adapters.lightkube_client import LightkubeClient
from tests.helpers.kube_api import FakeKubeAPI


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    """The API-server stand-in on 127.0.0.1, for this test."""
    with FakeKubeAPI() as server:
        yield server


@pytest.fixture
async def kube(api: FakeKubeAPI) -> AsyncIterator[LightkubeClient]:
    """The real kube adapter pointed at the stand-in."""
    client = LightkubeClient.connect(server=api.url, timeout=5.0)
    yield client
    await client.aclose()
