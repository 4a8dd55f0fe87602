"""Alert storm: N Alertmanager payloads of B alerts from C concurrent senders against a fresh
`awoooi serve` on SQLite and on PostgreSQL, beside the same load against the code before batch
ingestion (the reference), with every alert accounted for."""

# Run from the repository root with the project's venv:
#
#     .venv/bin/python bench/ingest.py [--payloads 200] [--alerts 50] [--senders 8] [--seed 7]
#         [--databases sqlite,postgresql] [--baseline-ref 7013938 | --no-baseline]
#         [--pg-workers N]
#
# 1. Generates (seeded) alerts from the 37 real kube-state-metrics rules in
#    ../shared/bench/alerts/kubestate-exporter.yml: --failures failing (rule, namespace,
#    workload) triples over 12 namespaces x 8 workloads, each alert one of their pods, its Go
#    templates rendered with a fresh pod name, instance and value each time (the noise the
#    symptoms hash ignores), fingerprints as Alertmanager computes them from the labels. About
#    a quarter of the alerts of a payload are redeliveries of alerts already sent (Alertmanager
#    repeats firing alerts), the rest new. Firing alerts only, so every alert sent is opened,
#    deduplicated or ignored. Bodies are encoded before the clock starts.
# 2. For each database: a fresh `awoooi serve` subprocess (its in-process worker on, as by
#    default; on PostgreSQL `--workers N`, one process per core by default: SQLite is served by
#    one process) over a new SQLite file in a temporary home, or a new PostgreSQL database;
#    C senders post the payloads with the admin token. Timed from the first request to the
#    last answer.
# 3. The reference, in the same run: the same payloads against the code at --baseline-ref (the
#    commit before batch ingestion and the SQLite write gate), from a `git archive` of its src/
#    and migrations/ on PYTHONPATH with this venv.
# 4. Accounting, per run: sent = opened + deduplicated + ignored from the 2xx answers; in the
#    database, incidents = opened, one alert row per distinct fingerprint, occurrences = distinct
#    fingerprints, an "opened" timeline entry per incident and a diagnosis job queued per
#    incident. A run with any non-2xx answer cannot be accounted for and says so.

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import yaml
from sqlalchemy import text
from sqlalchemy.engine import make_url

from awoooi.core.db import create_engine

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT.parent / "shared" / "bench" / "alerts" / "kubestate-exporter.yml"
AWOOOI = Path(sys.executable).parent / "awoooi"
PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
BASELINE = "7013938"  # main before issue 17: per-alert queries, no write gate
TARGETS = {"sqlite": 1000.0, "postgresql": 2000.0}
NAMESPACES = ("shop", "billing", "search", "identity", "media", "ledger", "orders", "gateway",
              "reports", "fraud", "tenants", "geo")  # fmt: skip
WORKLOADS = ("api", "web", "worker", "consumer", "indexer", "gateway", "sync", "exporter")
SAFE = "bcdfghjklmnpqrstvwxz2456789"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
_TEMPLATE = re.compile(r"\{\{\s*\$(labels\.(\w+)|value)\s*\}\}")


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _render(template: str, labels: dict[str, str], value: str) -> str:
    def one(match: re.Match[str]) -> str:
        return value if match.group(1) == "value" else labels.get(match.group(2), "")

    return _TEMPLATE.sub(one, template)


def _fingerprint(labels: dict[str, str]) -> str:
    identity = "\xff".join(f"{k}\xfe{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def _alert(
    rng: random.Random, rule: dict[str, Any], namespace: str, workload: str
) -> dict[str, Any]:
    rs = "".join(rng.choices(SAFE, k=10))
    pod = f"{workload}-{rs}-{''.join(rng.choices(SAFE, k=5))}"
    labels = {
        "alertname": rule["alert"],
        "namespace": namespace,
        "pod": pod,
        "container": workload,
        "deployment": workload,
        "instance": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}:8080",
        "job": "kube-state-metrics",
        "prometheus": "monitoring/k8s",
        "severity": rule.get("labels", {}).get("severity", "warning"),
    }
    value = f"{rng.uniform(0, 100):.4g}"
    annotations = {
        key: _render(str(template), labels, value)
        for key, template in rule.get("annotations", {}).items()
    }
    started = T0 + timedelta(seconds=rng.randrange(3600))
    return {
        "status": "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": started.isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus.local/graph?g0.expr={rule['alert']}",
        "fingerprint": _fingerprint(labels),
    }


@dataclass
class Load:
    """The payloads of one storm, encoded, and what they carry."""

    bodies: list[bytes]
    sent: int
    distinct: int


def make_load(payloads: int, size: int, seed: int, failures: int) -> Load:
    """Seeded payloads: per payload ~75 % new alerts, ~25 % redeliveries of earlier ones, all
    from `failures` failing (rule, namespace, workload) triples."""
    rng = random.Random(seed)
    rules = _rules()
    triples = [
        (rng.choice(rules), rng.choice(NAMESPACES), rng.choice(WORKLOADS)) for _ in range(failures)
    ]
    earlier: list[dict[str, Any]] = []
    bodies: list[bytes] = []
    fingerprints: set[str] = set()
    for _ in range(payloads):
        alerts: list[dict[str, Any]] = []
        taken: set[str] = set()
        while len(alerts) < size:
            if earlier and rng.random() < 0.25:
                alert = rng.choice(earlier)
            else:
                alert = _alert(rng, *rng.choice(triples))
                earlier.append(alert)
            if alert["fingerprint"] in taken:
                continue
            taken.add(alert["fingerprint"])
            alerts.append(alert)
        fingerprints |= taken
        payload = {
            "receiver": "awoooi",
            "status": "firing",
            "alerts": alerts,
            "groupLabels": {},
            "commonLabels": {"job": "kube-state-metrics"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.local:9093",
            "version": "4",
            "groupKey": "{}:{}",
            "truncatedAlerts": 0,
        }
        bodies.append(json.dumps(payload).encode())
    return Load(bodies, payloads * size, len(fingerprints))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(
    home: Path, database_url: str, port: int, pythonpath: Path | None, workers: int = 1
) -> Iterator[subprocess.Popen[bytes]]:
    """A fresh `awoooi serve` (of --baseline-ref's code when `pythonpath`); killed on the way
    out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWOOOI_")}
    env |= {
        "AWOOOI_HOME": str(home),
        "AWOOOI_DATABASE_URL": database_url,
        "AWOOOI_PORT": str(port),
        "AWOOOI_LOG_FORMAT": "json",
    }
    argv = [str(AWOOOI), "serve"] + (["--workers", str(workers)] if workers > 1 else [])
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
        argv = [sys.executable, "-c", "from awoooi.cli.main import main; main()", "serve"]
    log = (home / "serve.log").open("wb")
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=log, cwd=home)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"serve exited:\n{(home / 'serve.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("serve did not become ready in 60 s")
            time.sleep(0.2)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children so far (Linux /proc),
    whatever else the machine runs: the figure that does not depend on the load average."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]
    return own + sum(cpu_seconds(child) for child in children)


@dataclass
class Run:
    """One storm against one server."""

    database: str
    code: str
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the server process's CPU time during the storm
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    totals: Counter[str] = field(default_factory=Counter)
    stored: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def rate(self, load: Load) -> float:
        return load.sent / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


async def storm(base: str, token: str, load: Load, senders: int, run: Run) -> None:
    """Post every body with `senders` concurrent connections."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in load.bodies:
        queue.put_nowait(body)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=senders)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:

        async def sender() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post("/api/v1/alerts/alertmanager", content=body,
                                             headers=headers)  # fmt: skip
                run.latencies.append(time.perf_counter() - started)
                run.statuses[response.status_code] += 1
                if response.is_success:
                    answer = response.json()
                    for key in ("alerts", "opened", "deduplicated", "ignored", "resolved"):
                        run.totals[key] += answer[key]
                    run.totals["rejected"] += len(answer["rejected"])

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        run.seconds = time.perf_counter() - started


STORED = {
    "incidents": "SELECT count(*) FROM incidents",
    "alert_rows": "SELECT count(*) FROM incident_alerts",
    "occurrences": "SELECT coalesce(sum(occurrences), 0) FROM incidents",
    "opened_entries": "SELECT count(*) FROM incident_events WHERE event = 'opened'",
    "diagnosis_jobs": "SELECT count(*) FROM jobs WHERE kind = 'incident.diagnose'",
}


async def stored_counts(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return {name: int((await conn.execute(text(sql))).scalar_one()) for name, sql
                    in STORED.items()}  # fmt: skip
    finally:
        await engine.dispose()


def account(run: Run, load: Load) -> None:
    """Every alert sent is opened, deduplicated or ignored, in the answers and the database."""
    if set(run.statuses) - set(range(200, 300)):
        run.problems.append("non-2xx answers: those payloads were not accounted for")
        return
    t, s = run.totals, run.stored
    checks = {
        "answers: alerts == sent": t["alerts"] == load.sent,
        "answers: opened + deduplicated + ignored == sent": (
            t["opened"] + t["deduplicated"] + t["ignored"] == load.sent
        ),
        "db: incidents == opened": s["incidents"] == t["opened"],
        "db: alert rows == distinct fingerprints": s["alert_rows"] == load.distinct,
        "db: occurrences == distinct fingerprints": s["occurrences"] == load.distinct,
        "db: 'opened' entries == incidents": s["opened_entries"] == s["incidents"],
        "db: diagnosis jobs == incidents": s["diagnosis_jobs"] == s["incidents"],
    }
    run.problems += [name for name, ok in checks.items() if not ok]


async def pg_database() -> str:
    admin = make_url(PG_ADMIN)
    conn = await asyncpg.connect(host=admin.host, port=admin.port, user=admin.username,
                                 database=admin.database)  # fmt: skip
    name = f"awoooi_bench_{uuid.uuid4().hex[:10]}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin.set(database=name).render_as_string(hide_password=False)


async def drop_pg(url: str) -> None:
    admin = make_url(PG_ADMIN)
    conn = await asyncpg.connect(host=admin.host, port=admin.port, user=admin.username,
                                 database=admin.database)  # fmt: skip
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


def one_run(
    database: str, code: str, load: Load, senders: int, pythonpath: Path | None, workers: int = 1
) -> Run:
    run = Run(database, code if workers == 1 else f"{code}, {workers} processes")
    with tempfile.TemporaryDirectory(prefix="awoooi-bench-") as tmp:
        home = Path(tmp)
        url = (
            f"sqlite+aiosqlite:///{home / 'awoooi.db'}"
            if database == "sqlite"
            else asyncio.run(pg_database())
        )
        try:
            port = free_port()
            with serve(home, url, port, pythonpath, workers) as server:
                token = (home / "admin-token").read_text().strip()
                before = cpu_seconds(server.pid)
                asyncio.run(storm(f"http://127.0.0.1:{port}", token, load, senders, run))
                run.cpu_seconds = cpu_seconds(server.pid) - before
            run.stored = asyncio.run(stored_counts(url))
            account(run, load)
            errors = [line for line in (home / "serve.log").read_text().splitlines()
                      if '"level": "error"' in line or "Traceback" in line]  # fmt: skip
            if errors:
                run.problems.append(
                    f"{len(errors)} error lines in the server log: {errors[0][:200]}"
                )
        finally:
            if database == "postgresql":
                asyncio.run(drop_pg(url))
    return run


@contextmanager
def baseline_code(ref: str) -> Iterator[Path]:
    """src/ and migrations/ of `ref`, extracted to a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="awoooi-baseline-") as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src", "migrations"],
                                 check=True, capture_output=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp) / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payloads", type=int, default=200)
    parser.add_argument("--alerts", type=int, default=50)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--failures", type=int, default=60, help="failing workloads")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--baseline-ref", default=BASELINE)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--pg-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="`serve --workers` on PostgreSQL (SQLite is served by one process)",
    )
    args = parser.parse_args()
    if not shutil.which("git"):
        args.no_baseline = True
    load = make_load(args.payloads, args.alerts, args.seed, args.failures)
    print(f"{args.payloads} payloads x {args.alerts} alerts ({load.sent} sent, "
          f"{load.distinct} distinct fingerprints), {args.senders} senders; "
          f"load average {os.getloadavg()[0]:.1f} at the start")  # fmt: skip
    runs: list[Run] = []
    for database in args.databases.split(","):
        workers = args.pg_workers if database == "postgresql" else 1
        runs.append(one_run(database, "ours", load, args.senders, None, workers))
        if not args.no_baseline:
            with baseline_code(args.baseline_ref) as path:
                runs.append(one_run(database, args.baseline_ref, load, args.senders, path))
    print(f"load average {os.getloadavg()[0]:.1f} at the end\n")
    print(
        "| database | code | alerts/s | target | server CPU µs per alert | request p50 / p99 ms "
        "| statuses | accounted |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for run in runs:
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(run.statuses.items()))
        target = f"≥ {TARGETS[run.database]:,.0f}" if run.code.startswith("ours") else ""
        accounted = "yes" if not run.problems else "NO: " + "; ".join(run.problems)
        cpu = run.cpu_seconds / load.sent * 1e6
        print(f"| {run.database} | {run.code} | {run.rate(load):,.0f} | {target} | {cpu:,.0f} | "
              f"{run.percentile(0.5):.0f} / {run.percentile(0.99):.0f} | {statuses} | "
              f"{accounted} |")  # fmt: skip
    for database in args.databases.split(","):
        ours = [r for r in runs if r.database == database and r.code.startswith("ours")]
        base = [r for r in runs if r.database == database and not r.code.startswith("ours")]
        if ours and base and base[0].rate(load):
            ratio = ours[0].rate(load) / base[0].rate(load)
            cpu = base[0].cpu_seconds / max(ours[0].cpu_seconds, 1e-9)
            print(
                f"{database}: {ratio:.1f}x the reference's alerts/s, "
                f"{cpu:.1f}x less server CPU per alert"
            )
    for run in runs:
        if run.code.startswith("ours"):
            median = statistics.median(run.latencies) if run.latencies else 0
            print(f"{run.database}: {run.stored} (median request {median * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
