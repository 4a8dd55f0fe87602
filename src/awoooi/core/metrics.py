"""Prometheus metrics, all prefixed `awoooi_`, in one registry served at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

import awoooi

REGISTRY = CollectorRegistry(auto_describe=True)

BUILD_INFO = Gauge(
    "awoooi_build_info", "Always 1; labels carry the version.", ["version"], registry=REGISTRY
)
BUILD_INFO.labels(version=awoooi.__version__).set(1)

HTTP_REQUESTS = Counter(
    "awoooi_http_requests_total",
    "HTTP requests by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "awoooi_http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["method", "route"],
    registry=REGISTRY,
)
JOBS_FINISHED = Counter(
    "awoooi_jobs_finished_total",
    "Job attempts by kind and outcome (done, retry, dead, released).",
    ["kind", "outcome"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "awoooi_job_duration_seconds", "Job handler run time by kind.", ["kind"], registry=REGISTRY
)
NOTIFICATIONS = Counter(
    "awoooi_notifications_total",
    "Notification delivery attempts by channel and outcome.",
    ["channel", "outcome"],
    registry=REGISTRY,
)


def render_metrics() -> bytes:
    """The registry in Prometheus text exposition format."""
    return generate_latest(REGISTRY)


ALERTS_RECEIVED = Counter(
    "awoooi_alerts_received_total",
    "Alerts received by source and status.",
    ["source", "status"],
    registry=REGISTRY,
)
ALERTS_DEDUPLICATED = Counter(
    "awoooi_alerts_deduplicated_total",
    "Alerts that opened no incident: redelivered, re-fired or grouped by symptoms.",
    ["reason"],
    registry=REGISTRY,
)
INCIDENTS_OPENED = Counter(
    "awoooi_incidents_opened_total",
    "Incidents opened by severity.",
    ["severity"],
    registry=REGISTRY,
)
LLM_CALLS = Counter(
    "awoooi_llm_calls_total",
    "Model call attempts by intent, provider and outcome (success, error, skipped, rejected).",
    ["intent", "provider", "outcome"],
    registry=REGISTRY,
)
LLM_TOKENS = Counter(
    "awoooi_llm_tokens_total",
    "Tokens by provider and direction (input, output).",
    ["provider", "direction"],
    registry=REGISTRY,
)
LLM_COST = Counter(
    "awoooi_llm_cost_usd_total",
    "Model cost in US dollars by provider.",
    ["provider"],
    registry=REGISTRY,
)
LLM_LATENCY = Histogram(
    "awoooi_llm_latency_seconds",
    "Model call latency by provider.",
    ["provider"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
    registry=REGISTRY,
)
