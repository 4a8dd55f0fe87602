"""Fixtures for the drift API tests: tokens per role (shared with the incident tests)."""

from __future__ import annotations

from tests.incidents import conftest as incident_fixtures

headers_for = incident_fixtures.headers_for
