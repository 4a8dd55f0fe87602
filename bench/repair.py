"""Repair decisions at scale: decide() with 1,000,000 knowledge entries and 100,000 past repairs."""

# Run from the repository root with the project's venv:
#
#     .venv/bin/python bench/repair.py [--db sqlite|postgresql|both] [--entries 1000000]
#         [--repairs 100000] [--incidents 20000] [--decisions 2000] [--rounds 10]
#         [--pg-url URL] [--batch 50000] [--seed 7]
#
# For each database it builds the schema with the real migrations in a fresh database (SQLite: a
# file in a temporary directory; PostgreSQL: a uniquely named database on --pg-url's server,
# dropped at the end), then:
#
# 1. loads --entries knowledge entries with bench/knowledge.py's corpus and loader (FTS/tsvector
#    and every index live), and reads back which symptoms hashes have a PUBLISHED anti-pattern
#    inside knowledge.anti_pattern_days (untimed);
# 2. generates --incidents open incidents to decide on (alertname among the shipped playbooks'
#    signals or one no playbook matches, namespace, service, pod; ~10 % of those with a playbook
#    carry a hash with a live anti-pattern, the rest one without) and --repairs past repairs over
#    30 days on ~5,000 `namespace/Deployment/name` targets (Zipf popularity), each on its own
#    past incident (a few re-decided). The history is played forward through the same gates
#    (cooldown, rate limit, attempts, busy; approved repairs start later and skip the cooldown, as
#    in the service), so statuses come out as they would: mostly succeeded/failed, some blocked
#    and no_playbook, pending approval near the end, a few queued/running. A few popular targets
#    flap (three approved scale-ups in the last hour: the rate limit) and ~4 % of the open
#    incidents already had their playbook run once (max_attempts). Bulk-loaded (SQLite: Core
#    insert() executemany; PostgreSQL: COPY, then VACUUM ANALYZE as autovacuum would); the load
#    time is printed, not part of the timing;
# 3. decides --decisions of the open incidents through Runtime.from_settings(...).repairs with the
#    default RepairSettings (shipped playbooks: selection and placeholder resolution included), at
#    one fixed instant, and checks every verdict against the reference (untimed): the same gate
#    queries in the same order, as raw SQL on the bare driver (sqlite3 / asyncpg) with the plan the
#    generator meant for the incident. Then times decide() with a session per call (as the
#    repair.decide job does), inside one open session, and the reference, in alternating rounds;
# 4. prints the plans of the gate statements decide() sent, each for its heaviest parameters
#    seen (most repairs on the target, commonest hash).
#
# Ratios are ours / reference from the same run. PostgreSQL plans are printed twice when they
# differ: as planned for the values (EXPLAIN ANALYZE) and as the generic plan a cached prepared
# statement may switch to after five runs (asyncpg, and so SQLAlchemy, prepares every statement).
# Defaults took 13-16 minutes for `both` on two cores with other work running (load average
# 2.5-5); the two 1,000,000-entry knowledge loads (5-9 minutes each) are most of it, the rest is
# about 80 s per database.

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import random
import sqlite3
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg
from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

import knowledge as kb
from awoooi.adapters.kube import KubeClient
from awoooi.core.db import create_engine
from awoooi.incidents.models import Incident
from awoooi.knowledge.models import EntryStatus, EntryType
from awoooi.repair import gates
from awoooi.repair.models import BUSY_STATUSES, Repair, RepairStatus, Verdict
from awoooi.repair.playbooks import Playbook, PlaybookCatalog, load_catalog
from awoooi.repair.service import SYSTEM_ACTOR, RepairService
from awoooi.repair.settings import RepairSettings
from awoooi.runtime import Runtime
from awoooi.settings import Settings

TARGETS = 5000
TARGET_EXPONENT = 0.7
HISTORY_DAYS = 30
REGIONS = ("", "-eu", "-us", "-ap")
# alertname, share of incidents (%), the shipped playbook it should select (None: no match).
ALERTS: tuple[tuple[str, int, str | None], ...] = (
    ("KubePodCrashLooping", 30, "restart-crashloop"),
    ("KubePodNotReady", 18, "delete-stuck-pod"),
    ("CPUThrottlingHigh", 12, "scale-up-saturation"),
    ("KubeHpaMaxedOut", 3, "scale-up-saturation"),
    ("KubeDeploymentRolloutStuck", 5, "rollback-bad-rollout"),
    ("KubeNodeNotReady", 6, None),
    ("TargetDown", 6, None),
    ("KubePersistentVolumeFillingUp", 5, None),
    ("KubeJobFailed", 5, None),
    ("KubeContainerWaiting", 4, None),
    ("NodeFilesystemAlmostOutOfSpace", 4, None),
    ("etcdHighNumberOfLeaderChanges", 2, None),
)
PLAYBOOK_ALERTS = tuple(alert for alert in ALERTS if alert[2] is not None)
OTHER_ALERTS = tuple(alert for alert in ALERTS if alert[2] is None)
HOT_SHARE = 0.10  # of the open incidents with a playbook: a hash with a live anti-pattern
ATTEMPTED_SHARE = 0.04  # of the open incidents with a playbook: it already ran once
NO_PLAYBOOK_SHARE = 0.10  # of the past repairs
PEOPLE = kb.PEOPLE
INCIDENT_JSON = ("affected_services", "labels", "annotations", "symptoms")
REPAIR_JSON = ("reasons", "plan")
INCIDENT_COLUMNS = tuple(column.name for column in Incident.__table__.columns)
REPAIR_COLUMNS = tuple(column.name for column in Repair.__table__.columns)
GATE_ORDER = ("anti_pattern", "cooldown", "rate_limit", "max_attempts", "busy")
FULL_PATH = ("BLOCKED busy", "NEEDS_APPROVAL", "AUTO")
CLASSES = (
    "NO_PLAYBOOK",
    "BLOCKED anti_pattern",
    "BLOCKED cooldown",
    "BLOCKED rate_limit",
    "BLOCKED max_attempts",
    "BLOCKED busy",
    "NEEDS_APPROVAL",
    "AUTO",
)


# --- data -------------------------------------------------------------------------------------


def pick(rng: random.Random, values: Sequence[Any], cumulative: list[float]) -> Any:
    """One value, Zipf-weighted by position."""
    index = bisect.bisect(cumulative, rng.random() * cumulative[-1])
    return values[min(index, len(values) - 1)]


def weighted(rng: random.Random, alerts: Sequence[tuple[str, int, str | None]]) -> tuple[str, str]:
    """An alertname and its playbook id ("" when none), by share."""
    name, _share, playbook = rng.choices(alerts, weights=[a[1] for a in alerts])[0]
    return name, playbook or ""


@dataclass
class Case:
    """An open incident to decide, with the plan the generator meant for it."""

    incident_id: int
    playbook_id: str | None
    target: str | None
    symptoms_hash: str
    hot: bool


@dataclass
class Pending:
    """A past decision before the history walk gives it a status."""

    at: datetime
    target: str | None
    playbook_id: str | None
    alertname: str
    incident_id: int | None = None
    forced: tuple[datetime, datetime] | None = None  # an approved run at these times


@dataclass
class TargetState:
    runs: list[list[datetime | None]] = field(default_factory=list)  # [start, finish or None]
    last: tuple[datetime, str, int] | None = None  # last decision: at, playbook, incident
    running: bool = False


class History:
    """Deterministic open incidents and past repairs, consistent with the shipped playbooks."""

    def __init__(
        self,
        seed: int,
        corpus: kb.Corpus,
        hot: set[str],
        catalog: PlaybookCatalog,
        settings: RepairSettings,
        incidents: int,
        repairs: int,
    ) -> None:
        self.rng = random.Random(seed * 1_000_003 + 11)
        self.now = corpus.now
        self.corpus = corpus
        self.hot = hot
        self.hot_list = sorted(hot)
        self.catalog = catalog
        self.settings = settings
        self.digests = {playbook.id: playbook.digest for playbook in catalog.playbooks}
        services = [f"{p}-{s}" for p in kb.SERVICE_PREFIXES for s in kb.SERVICE_SUFFIXES]
        pairs = [
            (ns + region, svc) for ns in kb.NAMESPACES for region in REGIONS for svc in services
        ]
        self.rng.shuffle(pairs)
        self.targets = pairs[:TARGETS]
        self.target_weights = kb.zipf_cumulative(len(self.targets), TARGET_EXPONENT)
        self.day_numbers: Counter[str] = Counter()
        self.incident_rows: list[dict[str, Any]] = []
        self.repair_rows: list[dict[str, Any]] = []
        self.cases: list[Case] = []
        self.flapping: list[str] = []
        self._open(incidents)
        self._past(repairs)

    # helpers

    def _target(self) -> tuple[str, str]:
        ns, svc = pick(self.rng, self.targets, self.target_weights)
        return ns, svc

    def _corpus_hash(self, want_hot: bool) -> str:
        """A hash from the corpus (by its popularity) with / without a live anti-pattern."""
        for _ in range(200):
            value = pick(self.rng, self.corpus.hashes, self.corpus.hash_weights)
            if (value in self.hot) == want_hot:
                return str(value)
        if want_hot and self.hot_list:
            return self.rng.choice(self.hot_list)
        return self._fresh_hash()

    def _fresh_hash(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def _incident(
        self,
        alertname: str,
        ns: str,
        svc: str,
        symptoms_hash: str,
        created: datetime,
        status: str,
        *,
        pod: bool = True,
    ) -> int:
        rng = self.rng
        incident_id = len(self.incident_rows) + 1
        day = f"{created:%Y%m%d}"
        self.day_numbers[day] += 1
        labels = {"alertname": alertname, "namespace": ns, "service": svc, "severity": "warning"}
        if pod:
            labels["pod"] = f"{svc}-{rng.getrandbits(36):09x}-{rng.getrandbits(20):05x}"
        if alertname.startswith("KubeDeployment"):
            labels["deployment"] = svc
        last_seen = min(self.now, created + timedelta(minutes=rng.uniform(0, 90)))
        resolved = (
            min(self.now, last_seen + timedelta(minutes=rng.uniform(1, 60)))
            if status == "resolved"
            else None
        )
        self.incident_rows.append(
            {
                "id": incident_id,
                "human_id": f"INC-{day}-{self.day_numbers[day]:05d}",
                "title": f"{alertname}: {ns}/{svc}",
                "severity": rng.choice(("critical", "high", "high", "medium", "medium", "low")),
                "status": status,
                "affected_services": [svc],
                "namespace": ns,
                "labels": labels,
                "annotations": {"summary": f"{alertname} on {ns}/{svc}"},
                "symptoms": {
                    "signal": alertname,
                    "services": [svc],
                    "namespace": ns,
                    "resource_kind": "Deployment",
                    "error_signature": "",
                },
                "symptoms_hash": symptoms_hash,
                "source": "alertmanager",
                "occurrences": rng.randrange(1, 20),
                "first_seen": created,
                "last_seen": last_seen,
                "resolved_at": resolved,
                "created_at": created,
                "updated_at": resolved or last_seen,
            }
        )
        return incident_id

    # the open incidents decisions are made for

    def _open(self, count: int) -> None:
        rng = self.rng
        for _ in range(count):
            alertname, playbook_id = weighted(rng, ALERTS)
            ns, svc = self._target()
            # A few pods vanish before the alert is decided: the playbook cannot be planned.
            pod = not (alertname == "KubePodNotReady" and rng.random() < 0.03)
            planned = bool(playbook_id) and pod
            hot = planned and rng.random() < HOT_SHARE
            if hot:
                symptoms_hash = self._corpus_hash(True)
            elif rng.random() < 0.6:
                symptoms_hash = self._corpus_hash(False)
            else:
                symptoms_hash = self._fresh_hash()
            created = self.now - timedelta(minutes=min(24 * 60, rng.expovariate(1 / 120)))
            status = rng.choice(("open", "open", "open", "diagnosing", "escalated"))
            incident_id = self._incident(
                alertname, ns, svc, symptoms_hash, created, status, pod=pod
            )
            self.cases.append(
                Case(
                    incident_id,
                    playbook_id if planned else None,
                    f"{ns}/Deployment/{svc}" if planned else None,
                    symptoms_hash,
                    hot,
                )
            )

    # the past repairs

    def _past(self, count: int) -> None:
        rng, now = self.rng, self.now
        pending: list[Pending] = []
        flapping: set[str] = set()
        while len(flapping) < max(2, count // 2000):
            ns, svc = self._target()
            flapping.add(f"{ns}/Deployment/{svc}")
        self.flapping = sorted(flapping)
        for target in self.flapping:
            for minutes in (58, 47, 36):
                start = now - timedelta(minutes=minutes, seconds=-rng.uniform(0, 60))
                finish = start + timedelta(seconds=rng.uniform(90, 150))
                decided = start - timedelta(minutes=rng.uniform(1, 5))
                pending.append(
                    Pending(
                        decided,
                        target,
                        "scale-up-saturation",
                        "CPUThrottlingHigh",
                        None,
                        (start, finish),
                    )
                )
        by_id = {row["id"]: row for row in self.incident_rows}
        for case in self.cases:
            if case.playbook_id is None or rng.random() >= ATTEMPTED_SHARE:
                continue
            opened = by_id[case.incident_id]["created_at"]
            at = opened + timedelta(minutes=rng.uniform(1, 20))
            if at < now - timedelta(minutes=2):
                alertname = by_id[case.incident_id]["labels"]["alertname"]
                pending.append(
                    Pending(at, case.target, case.playbook_id, alertname, case.incident_id)
                )
        while len(pending) < count:
            at = now - timedelta(seconds=rng.random() * HISTORY_DAYS * 86400)
            if rng.random() < NO_PLAYBOOK_SHARE:
                alertname, _ = weighted(rng, OTHER_ALERTS)
                pending.append(Pending(at, None, None, alertname))
                continue
            alertname, playbook_id = weighted(rng, PLAYBOOK_ALERTS)
            ns, svc = self._target()
            pending.append(Pending(at, f"{ns}/Deployment/{svc}", playbook_id, alertname))
        pending.sort(key=lambda p: p.at)
        states: dict[str, TargetState] = defaultdict(TargetState)
        attempts: Counter[tuple[int, str]] = Counter()
        for item in pending:
            self._walk(item, states, attempts)
        self.repair_rows.sort(key=lambda row: row["created_at"])
        for index, row in enumerate(self.repair_rows, start=1):
            row["id"] = index

    def _walk(
        self, item: Pending, states: dict[str, TargetState], attempts: Counter[tuple[int, str]]
    ) -> None:
        """Give one past decision the outcome the gates would have given it then."""
        rng, now, at = self.rng, self.now, item.at
        if item.target is None or item.playbook_id is None:
            ns, svc = self._target()
            incident = self._incident(item.alertname, ns, svc, self._fresh_hash(), at, "resolved")
            self._repair(item, incident, None, Verdict.NO_PLAYBOOK, RepairStatus.NO_PLAYBOOK)
            return
        playbook = self.catalog.get(item.playbook_id)
        assert playbook is not None
        state = states[item.target]
        state.runs = [r for r in state.runs if r[1] is None or r[1] > at - timedelta(hours=2)]
        ns, _, svc = item.target.split("/")
        if item.incident_id is not None:
            incident = item.incident_id
        elif (
            state.last is not None
            and at - state.last[0] < timedelta(hours=2)
            and state.last[1] == playbook.id
            and rng.random() < 0.3
        ):
            incident = state.last[2]  # decided again (by hand, or after a cooldown)
        else:
            opened = at - timedelta(minutes=rng.uniform(0, 5))
            incident = self._incident(
                item.alertname, ns, svc, self._fresh_hash(), opened, "resolved"
            )
        state.last = (at, playbook.id, incident)
        approval = gates.approval_reason(playbook, self.settings)
        start: datetime | None = None
        finish: datetime | None = None
        if item.forced is not None:
            start, finish = item.forced
            verdict, status, gate = Verdict.NEEDS_APPROVAL, RepairStatus.SUCCEEDED, "approval"
        else:
            gate = self._gate(playbook, state, attempts, incident, at)
            if gate is not None:
                verdict, status = Verdict.BLOCKED, RepairStatus.BLOCKED
            elif approval is not None:
                verdict, gate = Verdict.NEEDS_APPROVAL, "approval"
                roll = rng.random()
                if roll < 0.75:
                    start = at + timedelta(minutes=rng.uniform(2, 90))
                    status = RepairStatus.QUEUED
                elif at + timedelta(hours=self.settings.approval_ttl_hours) > now:
                    status = RepairStatus.PENDING_APPROVAL
                else:
                    status = RepairStatus.REJECTED if roll < 0.9 else RepairStatus.EXPIRED
            else:
                verdict, status = Verdict.AUTO, RepairStatus.QUEUED
                start = at + timedelta(seconds=rng.uniform(1, 20))
            if start is not None:
                finish = start + timedelta(seconds=min(900.0, 20 + rng.expovariate(1 / 100)))
                if start > now:  # not started yet: queued, or not approved yet
                    start = finish = None
                    auto = verdict is Verdict.AUTO
                    status = RepairStatus.QUEUED if auto else RepairStatus.PENDING_APPROVAL
                elif finish > now:
                    if state.running:
                        start = finish = None  # the one-running-per-target index
                        status = RepairStatus.QUEUED
                    else:
                        state.running = True
                        finish = None
                        status = RepairStatus.RUNNING
                else:
                    status = RepairStatus.SUCCEEDED if rng.random() < 0.75 else RepairStatus.FAILED
        if start is not None:
            state.runs.append([start, finish])
            attempts[(incident, playbook.id)] += 1
        self._repair(item, incident, playbook, verdict, status, gate, start, finish)

    def _gate(
        self,
        playbook: Playbook,
        state: TargetState,
        attempts: Counter[tuple[int, str]],
        incident: int,
        at: datetime,
    ) -> str | None:
        if self.rng.random() < 0.03:
            return "anti_pattern"
        finished = [f for s, f in state.runs if f is not None and s is not None and f <= at]
        if finished and at - max(finished) < timedelta(seconds=playbook.cooldown):
            return "cooldown"
        hour = at - timedelta(hours=1)
        started = sum(1 for s, _f in state.runs if s is not None and hour <= s <= at)
        if started >= self.settings.max_repairs_per_target_per_hour:
            return "rate_limit"
        if attempts[(incident, playbook.id)] >= playbook.max_attempts:
            return "max_attempts"
        if any(s is not None and s <= at and (f is None or f > at) for s, f in state.runs):
            return "busy"
        return None

    def _repair(
        self,
        item: Pending,
        incident: int,
        playbook: Playbook | None,
        verdict: Verdict,
        status: RepairStatus,
        gate: str | None = None,
        start: datetime | None = None,
        finish: datetime | None = None,
    ) -> None:
        rng, at = self.rng, item.at
        reasons = ["no playbook matches this incident"]
        plan: list[dict[str, Any]] = []
        if playbook is not None:
            reasons = [f"playbook {playbook.id} matches; target {item.target}"]
            if verdict is Verdict.BLOCKED:
                reasons.append(f"{gate}: blocked when decided")
            else:
                reasons.append("anti-pattern, freeze, cooldown, rate limit and lock gates passed")
            step = playbook.steps[0]
            plan = [
                {
                    "position": 0,
                    "action": step.action,
                    "params": step.params,
                    "timeout": step.timeout,
                }
            ]
        approved = start is not None and verdict is Verdict.NEEDS_APPROVAL
        decided = start - timedelta(seconds=rng.uniform(5, 60)) if approved and start else at
        pending = status is RepairStatus.PENDING_APPROVAL
        humans = status is RepairStatus.REJECTED or approved
        success = None
        if status in (RepairStatus.SUCCEEDED, RepairStatus.FAILED):
            success = status is RepairStatus.SUCCEEDED
        updated = finish or start or (decided if not pending else at)
        self.repair_rows.append(
            {
                "id": 0,
                "incident_id": incident,
                "playbook_id": playbook.id if playbook else None,
                "playbook_name": playbook.name if playbook else None,
                "playbook_digest": self.digests[playbook.id] if playbook else None,
                "target": item.target,
                "verdict": verdict.value,
                "gate": gate,
                "reasons": reasons,
                "status": status.value,
                "dry_run": False,
                "risk": playbook.risk if playbook else None,
                "symptoms_hash": self.incident_rows[incident - 1]["symptoms_hash"],
                "anti_pattern_id": None,
                "plan": plan,
                "requested_by": SYSTEM_ACTOR,
                "decided_by": rng.choice(PEOPLE) if humans else None,
                "decided_at": None if pending else decided,
                "decision_note": "looks safe" if approved else None,
                "expires_at": at + timedelta(hours=self.settings.approval_ttl_hours)
                if verdict is Verdict.NEEDS_APPROVAL
                else None,
                "started_at": start,
                "finished_at": finish,
                "execution_ms": int((finish - start).total_seconds() * 1000)
                if start and finish
                else None,
                "success": success,
                "error": "verification failed: the alert did not resolve within 900s"
                if success is False
                else None,
                "created_at": at,
                "updated_at": updated,
            }
        )


# --- loading ----------------------------------------------------------------------------------


async def hot_hashes(backend: kb.Backend, url: str, since: datetime) -> Counter[str]:
    """Hashes with a PUBLISHED anti-pattern published since `since`, and how many."""
    sql = (
        "SELECT symptoms_hash, count(*) FROM knowledge_entries WHERE entry_type = {0} "
        "AND status = {1} AND published_at >= {2} AND symptoms_hash IS NOT NULL "
        "GROUP BY symptoms_hash"
    )
    args = (EntryType.ANTI_PATTERN.value, EntryStatus.PUBLISHED.value)
    if isinstance(backend, kb.SQLite):
        with sqlite3.connect(backend.path) as conn:
            rows = conn.execute(sql.format("?", "?", "?"), (*args, sqlite_time(since))).fetchall()
    else:
        conn = await pg_connect(url)
        try:
            rows = await conn.fetch(sql.format("$1", "$2", "$3"), *args, since)
        finally:
            await conn.close()
    return Counter({str(row[0]): int(row[1]) for row in rows})


def sqlite_time(value: datetime) -> str:
    """How SQLAlchemy stores a UTC timestamp in SQLite."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


async def pg_connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(kb.asyncpg_dsn(url), server_settings={"timezone": "UTC"})


async def load_history(backend: kb.Backend, url: str, history: History, batch: int) -> None:
    """Bulk-load the incidents, then the repairs (ids as generated)."""
    if isinstance(backend, kb.SQLite):
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                for pragma in ("synchronous=OFF", "cache_size=-262144", "temp_store=MEMORY"):
                    await conn.exec_driver_sql(f"PRAGMA {pragma}")
                for model, rows in (
                    (Incident, history.incident_rows),
                    (Repair, history.repair_rows),
                ):
                    for start in range(0, len(rows), batch):
                        await conn.execute(insert(model), rows[start : start + batch])
                        await conn.commit()
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                for pragma in ("synchronous=NORMAL", "cache_size=-2000", "temp_store=DEFAULT"):
                    await conn.exec_driver_sql(f"PRAGMA {pragma}")
        finally:
            await engine.dispose()
        return
    conn = await pg_connect(url)
    try:
        for table, columns, json_columns, rows in (
            ("incidents", INCIDENT_COLUMNS, INCIDENT_JSON, history.incident_rows),
            ("repairs", REPAIR_COLUMNS, REPAIR_JSON, history.repair_rows),
        ):
            for start in range(0, len(rows), batch):
                records = [
                    tuple(
                        json.dumps(row[name]) if name in json_columns else row[name]
                        for name in columns
                    )
                    for row in rows[start : start + batch]
                ]
                await conn.copy_records_to_table(table, records=records, columns=list(columns))
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    finally:
        await conn.close()


async def analyze_history(backend: kb.Backend, url: str) -> None:
    """PostgreSQL: VACUUM ANALYZE the new tables (what autovacuum would do); SQLite: nothing,
    since the app never runs ANALYZE."""
    if isinstance(backend, kb.SQLite):
        return
    conn = await pg_connect(url)
    try:
        await conn.execute("VACUUM (ANALYZE) incidents, repairs")
    finally:
        await conn.close()


# --- the reference: the gate queries on the bare driver ---------------------------------------

REPAIR_SELECT = ", ".join(REPAIR_COLUMNS)
COOLDOWN_SQL = "SELECT max(finished_at) FROM repairs WHERE target = {0} AND started_at IS NOT NULL"
RATE_SQL = "SELECT count(*) FROM repairs WHERE target = {0} AND started_at >= {1}"
ATTEMPTS_SQL = (
    "SELECT count(*) FROM repairs WHERE incident_id = {0} AND playbook_id = {1} "
    "AND started_at IS NOT NULL"
)
BUSY_SQL = (
    f"SELECT {REPAIR_SELECT} FROM repairs WHERE target = {{0}} AND status IN ({{1}}, {{2}}) "
    "AND id != {3} ORDER BY id LIMIT 1"
)


class RawGates:
    """The five gate queries, one statement each, on one raw connection."""

    async def anti_pattern(self, symptoms_hash: str, since: datetime) -> bool:
        raise NotImplementedError

    async def last_finished(self, target: str) -> datetime | None:
        raise NotImplementedError

    async def started_since(self, target: str, since: datetime) -> int:
        raise NotImplementedError

    async def attempts(self, incident_id: int, playbook_id: str) -> int:
        raise NotImplementedError

    async def busy(self, target: str) -> bool:
        raise NotImplementedError


class SQLiteGates(RawGates):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.anti_sql = kb.ANTI_SQL.format("?", "?", "?", "?")
        self.cooldown_sql = COOLDOWN_SQL.format("?")
        self.rate_sql = RATE_SQL.format("?", "?")
        self.attempts_sql = ATTEMPTS_SQL.format("?", "?")
        self.busy_sql = BUSY_SQL.format("?", "?", "?", "?")

    async def anti_pattern(self, symptoms_hash: str, since: datetime) -> bool:
        row = self.conn.execute(
            self.anti_sql,
            (
                symptoms_hash,
                EntryType.ANTI_PATTERN.value,
                EntryStatus.PUBLISHED.value,
                sqlite_time(since),
            ),
        ).fetchone()
        return row is not None

    async def last_finished(self, target: str) -> datetime | None:
        value = self.conn.execute(self.cooldown_sql, (target,)).fetchone()[0]
        return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)

    async def started_since(self, target: str, since: datetime) -> int:
        return int(self.conn.execute(self.rate_sql, (target, sqlite_time(since))).fetchone()[0])

    async def attempts(self, incident_id: int, playbook_id: str) -> int:
        return int(self.conn.execute(self.attempts_sql, (incident_id, playbook_id)).fetchone()[0])

    async def busy(self, target: str) -> bool:
        row = self.conn.execute(self.busy_sql, (target, *BUSY_STATUSES, 0)).fetchone()
        return row is not None


class PostgreSQLGates(RawGates):
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.anti_sql = kb.ANTI_SQL.format("$1", "$2", "$3", "$4")
        self.cooldown_sql = COOLDOWN_SQL.format("$1")
        self.rate_sql = RATE_SQL.format("$1", "$2")
        self.attempts_sql = ATTEMPTS_SQL.format("$1", "$2")
        self.busy_sql = BUSY_SQL.format("$1", "$2", "$3", "$4")

    async def anti_pattern(self, symptoms_hash: str, since: datetime) -> bool:
        row = await self.conn.fetchrow(
            self.anti_sql,
            symptoms_hash,
            EntryType.ANTI_PATTERN.value,
            EntryStatus.PUBLISHED.value,
            since,
        )
        return row is not None

    async def last_finished(self, target: str) -> datetime | None:
        value: datetime | None = await self.conn.fetchval(self.cooldown_sql, target)
        return value

    async def started_since(self, target: str, since: datetime) -> int:
        return int(await self.conn.fetchval(self.rate_sql, target, since))

    async def attempts(self, incident_id: int, playbook_id: str) -> int:
        return int(await self.conn.fetchval(self.attempts_sql, incident_id, playbook_id))

    async def busy(self, target: str) -> bool:
        return await self.conn.fetchrow(self.busy_sql, target, *BUSY_STATUSES, 0) is not None


@dataclass(frozen=True)
class RefPlan:
    """What the reference knows about a playbook (worked out once, untimed)."""

    cooldown: timedelta
    max_attempts: int
    approval: bool


# --- measuring --------------------------------------------------------------------------------


@dataclass
class Result:
    """One database's numbers, for the summary."""

    database: str
    entries: int = 0
    repairs: int = 0
    entries_load: float = 0.0
    history_load: float = 0.0
    ours: list[float] = field(default_factory=list)
    ours_open: list[float] = field(default_factory=list)
    ref: list[float] = field(default_factory=list)
    classes: dict[str, list[int]] = field(default_factory=dict)  # class -> sample indexes
    mismatches: int = 0


def label_of(verdict: Verdict | str, gate: str | None) -> str:
    verdict = Verdict(verdict)
    return f"BLOCKED {gate}" if verdict is Verdict.BLOCKED else verdict.value


def queries_of(label: str) -> int:
    """Gate statements a decision of this class sends."""
    if label == "NO_PLAYBOOK":
        return 0
    if label.startswith("BLOCKED "):
        return GATE_ORDER.index(label.removeprefix("BLOCKED ")) + 1
    return len(GATE_ORDER)


def stats(values: Sequence[float]) -> str:
    if not values:
        return "-"
    return f"{kb.ms(statistics.median(values))} / {kb.ms(kb.percentile(values, 99))}"


class _ConfiguredCluster:
    """Stands for a configured cluster: decide() only asks whether there is one."""

    async def aclose(self) -> None:
        """Nothing to close."""


async def bench_decide(
    backend: kb.Backend, url: str, history: History, args: argparse.Namespace, result: Result
) -> None:
    settings = Settings(database_url=url, home=Path(backend_home(backend)))
    # decide() skips cluster playbooks when no cluster is configured; it never calls one.
    runtime = Runtime.from_settings(settings, kube=cast(KubeClient, _ConfiguredCluster()))
    service: RepairService = runtime.repairs
    factory = runtime.session_factory
    moment = history.now
    anti_days = settings.knowledge.anti_pattern_days
    per_hour = settings.repair.max_repairs_per_target_per_hour
    ref_plans = {
        playbook.id: RefPlan(
            timedelta(seconds=playbook.cooldown),
            playbook.max_attempts,
            gates.approval_reason(playbook, settings.repair) is not None,
        )
        for playbook in service.catalog.playbooks
    }
    rng = random.Random(args.seed + 3)
    cases = (
        rng.sample(history.cases, args.decisions)
        if args.decisions <= len(history.cases)
        else rng.choices(history.cases, k=args.decisions)
    )
    async with factory() as session:
        ids = sorted({case.incident_id for case in cases})
        loaded = {
            incident.id: incident
            for incident in await session.scalars(select(Incident).where(Incident.id.in_(ids)))
        }
    incidents = [loaded[case.incident_id] for case in cases]
    await backend.open_raw(url)
    assert backend.raw is not None
    raw: RawGates = (
        SQLiteGates(backend.raw) if isinstance(backend, kb.SQLite) else PostgreSQLGates(backend.raw)
    )
    try:

        async def ours(index: int) -> tuple[str, str | None, str | None]:
            async with factory() as session:
                decision = await service.decide(session, incidents[index], now=moment)
            playbook = decision.playbook.id if decision.playbook else None
            target = decision.plan.target_key if decision.plan else None
            return label_of(decision.verdict, decision.gate), playbook, target

        async def reference(index: int) -> str:
            case = cases[index]
            if case.playbook_id is None or case.target is None:
                return "NO_PLAYBOOK"
            plan = ref_plans[case.playbook_id]
            if await raw.anti_pattern(case.symptoms_hash, moment - timedelta(days=anti_days)):
                return "BLOCKED anti_pattern"
            finished = await raw.last_finished(case.target)
            if finished is not None and moment - finished < plan.cooldown:
                return "BLOCKED cooldown"
            if await raw.started_since(case.target, moment - timedelta(hours=1)) >= per_hour:
                return "BLOCKED rate_limit"
            if await raw.attempts(case.incident_id, case.playbook_id) >= plan.max_attempts:
                return "BLOCKED max_attempts"
            if await raw.busy(case.target):
                return "BLOCKED busy"
            return "NEEDS_APPROVAL" if plan.approval else "AUTO"

        # Every verdict against the reference's, and the plan against the generator's (untimed),
        # with the statements decide() sent, for the plans below.
        labels: list[str] = []
        mismatches: list[str] = []
        with kb.captured(runtime.engine) as sent:
            for index, case in enumerate(cases):
                label, playbook, target = await ours(index)
                expected = await reference(index)
                labels.append(label)
                if (label, playbook, target) != (expected, case.playbook_id, case.target):
                    mismatches.append(
                        f"incident {case.incident_id}: ours {label} {playbook} {target}; "
                        f"reference {expected} {case.playbook_id} {case.target}"
                    )
        result.mismatches = len(mismatches)
        for index, label in enumerate(labels):
            result.classes.setdefault(label, []).append(index)
        counts = Counter(labels)
        print(
            f"decide() x {len(cases):,} open incidents at one instant: "
            f"{len(mismatches)} differ from the reference (verdict, gate, playbook, target)"
        )
        for line in mismatches[:5]:
            print(f"  MISMATCH {line}")
        print(
            "  verdicts: "
            + ", ".join(
                f"{label} {counts[label]:,} ({counts[label] / len(cases):.1%})"
                for label in CLASSES
                if counts[label]
            )
        )
        hot = sum(case.hot for case in cases)
        print(
            f"  incidents with a live anti-pattern hash: {hot:,} ({hot / len(cases):.1%}); "
            f"targets flapping (3 repairs in the last hour): {len(history.flapping)}"
        )
        ok_anti = counts["BLOCKED anti_pattern"] > 0
        ok_pace = counts["BLOCKED cooldown"] > 0 and counts["BLOCKED rate_limit"] > 0
        print(
            f"  gates exercised: anti-pattern {'yes' if ok_anti else 'NO'}, cooldown and rate "
            f"limit {'yes' if ok_pace else 'NO'}"
        )

        async def timed(
            call: Callable[[int], Awaitable[Any]], indexes: Sequence[int], bucket: list[float]
        ) -> None:
            for index in indexes:
                started = time.perf_counter()
                await call(index)
                bucket[index] += time.perf_counter() - started

        order = list(range(len(cases)))
        warm = order[: min(200, len(order))]
        scratch = [0.0] * len(cases)
        await timed(ours, warm, scratch)
        await timed(reference, warm, scratch)
        own = [0.0] * len(cases)
        opened = [0.0] * len(cases)
        ref = [0.0] * len(cases)
        per_round = max(1, len(cases) // args.rounds)
        rounds = [order[i : i + per_round] for i in range(0, len(order), per_round)]
        for number, part in enumerate(rounds):
            # The decide job holds one session per decision; a caller deciding several incidents
            # may hold one open: decide()'s own cost without a pool checkout per call.
            async with factory() as open_session:

                async def in_open_session(index: int, session: Any = open_session) -> None:
                    await service.decide(session, incidents[index], now=moment)

                await in_open_session(part[0])  # the session's first statement opens it
                sides: list[tuple[Callable[[int], Awaitable[Any]], list[float]]] = [
                    (reference, ref),
                    (ours, own),
                    (in_open_session, opened),
                ]
                for call, bucket in sides if number % 2 == 0 else reversed(sides):
                    await timed(call, part, bucket)
        result.ours, result.ours_open, result.ref = own, opened, ref

        driver = "sqlite3" if isinstance(backend, kb.SQLite) else "asyncpg"
        print(
            f"  {'decisions (median / p99 ms)':<28}{'share':>7}{'gate SQL':>9}"
            f"{'session per call':>19}{'open session':>16}{'raw ' + driver:>16}"
        )
        for label in [*CLASSES, "all"]:
            indexes = range(len(cases)) if label == "all" else result.classes.get(label, [])
            if not indexes:
                continue
            share = len(indexes) / len(cases)
            queries = (
                f"{queries_of(label)}"
                if label != "all"
                else (f"{statistics.mean(queries_of(x) for x in labels):.1f}")
            )
            print(
                f"  {label:<28}{share:>7.1%}{queries:>9}"
                f"{stats([own[i] for i in indexes]):>19}"
                f"{stats([opened[i] for i in indexes]):>16}"
                f"{stats([ref[i] for i in indexes]):>16}"
            )
        ratio = statistics.median(own) / statistics.median(ref)
        print(
            f"  ratio ours/reference (median, session per call): {ratio:.1f}; "
            f"in an open session: {statistics.median(opened) / statistics.median(ref):.1f}  "
            "(target: decide() median < 5 ms)"
        )
        await print_plans(backend, history, sent)
    finally:
        await backend.close_raw()
        await runtime.dispose()


def backend_home(backend: kb.Backend) -> str:
    """A state directory for Settings.home (nothing is written there)."""
    if isinstance(backend, kb.SQLite):
        return str(backend.path.parent / "home")
    return str(Path(os.environ.get("TMPDIR", "/tmp")) / "awoooi-bench-home")


def gate_of(statement: str) -> str | None:
    text = " ".join(statement.split()).lower()
    if "knowledge_entries" in text:
        return "anti_pattern"
    if "from repairs" not in text:
        return None
    if "max(" in text:
        return "cooldown"
    if "started_at >=" in text:
        return "rate_limit"
    if "incident_id =" in text:
        return "max_attempts"
    if "status in" in text:
        return "busy"
    return None


async def print_plans(backend: kb.Backend, history: History, sent: list[tuple[str, Any]]) -> None:
    """The plan of each gate statement decide() sent, re-bound to its worst case: the busiest
    target, the commonest hash, the incident with the most repairs."""
    targets = Counter(row["target"] for row in history.repair_rows if row["target"])
    incidents = Counter(row["incident_id"] for row in history.repair_rows)
    hashes = history.corpus.hash_counts
    worst: dict[str, tuple[Any, int]] = {
        "target": targets.most_common(1)[0],
        "hash": hashes.most_common(1)[0],
        "incident": incidents.most_common(1)[0],
    }

    def kind(value: Any) -> str | None:
        if isinstance(value, str) and value in targets:
            return "target"
        if isinstance(value, str) and value in hashes:
            return "hash"
        if isinstance(value, int) and not isinstance(value, bool) and value in incidents:
            return "incident"
        return None

    seen: dict[str, tuple[str, Any]] = {}
    for statement, parameters in sent:
        gate = gate_of(statement)
        if gate is None or gate in seen or isinstance(parameters, dict):
            continue
        if any(kind(value) for value in parameters):
            seen[gate] = (statement, parameters)
    for gate in GATE_ORDER:
        if gate not in seen:
            print(f"plan for the {gate} gate: not reached in this run")
            continue
        statement, parameters = seen[gate]
        keys = {kind(value) for value in parameters} - {None}
        bound = tuple(
            worst[key][0] if (key := kind(value)) is not None else value for value in parameters
        )
        what = ", ".join(f"{key} {worst[key][0]} ({worst[key][1]:,} rows)" for key in sorted(keys))
        took = await raw_time(backend, statement, bound)
        print(f"plan for the {gate} gate, {what}; raw driver {kb.ms(took)} ms:")
        custom = await backend.plan(statement, bound)
        print("\n".join(custom))
        if isinstance(backend, kb.PostgreSQL):
            generic = await generic_plan(backend, statement, bound)
            if shape(generic) == shape(custom):
                print("  generic plan (a cached prepared statement after 5 runs): the same")
            else:
                print("  generic plan (a cached prepared statement after 5 runs) differs:")
                print("\n".join(generic))


def pg_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text.replace("'", "''") + "'"


async def generic_plan(
    backend: kb.PostgreSQL, statement: str, parameters: tuple[Any, ...]
) -> list[str]:
    """The plan PostgreSQL caches for a prepared statement once it goes generic (asyncpg, and
    so SQLAlchemy's dialect, prepares every statement; auto mode may switch after 5 runs)."""
    assert backend.raw is not None
    literals = ", ".join(pg_literal(value) for value in parameters)
    await backend.raw.execute(f"PREPARE bench_generic AS {statement}")
    try:
        await backend.raw.execute("SET plan_cache_mode = force_generic_plan")
        rows = await backend.raw.fetch(
            f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_generic({literals})"
        )
    finally:
        await backend.raw.execute("RESET plan_cache_mode")
        await backend.raw.execute("DEALLOCATE bench_generic")
    return ["    " + str(row[0]) for row in rows]


def shape(plan: list[str]) -> list[str]:
    """A plan's nodes without costs, times and parameters."""
    nodes = [line.strip().removeprefix("->").split("(cost=")[0].strip() for line in plan]
    return [node for node in nodes if node and "(cost=" not in node and ":" not in node]


async def raw_time(backend: kb.Backend, statement: str, parameters: tuple[Any, ...]) -> float:
    """Median time of the statement on the raw connection (21 runs after one warm-up)."""
    times = []
    for run in range(22):
        started = time.perf_counter()
        if isinstance(backend, kb.SQLite):
            assert backend.raw is not None
            backend.raw.execute(statement, parameters).fetchall()
        else:
            assert backend.raw is not None
            await backend.raw.fetch(statement, *parameters)
        if run:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


async def run(backend: kb.Backend, args: argparse.Namespace) -> Result:
    result = Result(backend.name)
    label = f"SQLite {sqlite3.sqlite_version}" if backend.name == "sqlite" else "PostgreSQL"
    try:
        print(
            f"\n== {label}: decide() at {args.entries:,} knowledge entries, "
            f"{args.repairs:,} past repairs =="
        )
        url, corpus, result.entries_load = await kb.build(
            backend, args.entries, args.seed, args.batch
        )
        result.entries = args.entries
        settings = RepairSettings()
        anti_days = Settings().knowledge.anti_pattern_days
        hot = await hot_hashes(backend, url, corpus.now - timedelta(days=anti_days))
        print(
            f"hashes with a PUBLISHED anti-pattern in the last {anti_days:g} days: {len(hot):,} "
            f"(of {len(corpus.hash_counts):,} in the corpus)"
        )
        started = time.perf_counter()
        history = History(
            args.seed,
            corpus,
            set(hot),
            load_catalog(settings),
            settings,
            args.incidents,
            args.repairs,
        )
        generated = time.perf_counter() - started
        statuses = Counter(row["status"] for row in history.repair_rows)
        targets = Counter(row["target"] for row in history.repair_rows if row["target"])
        top_target, top_count = targets.most_common(1)[0]
        rows = len(history.incident_rows) + len(history.repair_rows)
        print(
            f"history: {len(history.incident_rows):,} incidents ({len(history.cases):,} open), "
            f"{len(history.repair_rows):,} repairs on {len(targets):,} targets over "
            f"{HISTORY_DAYS} days (busiest {top_target}: {top_count:,}); generated in "
            f"{generated:.1f} s"
        )
        print(
            "  repair statuses: "
            + ", ".join(f"{status} {count:,}" for status, count in statuses.most_common())
        )
        started = time.perf_counter()
        await load_history(backend, url, history, args.batch)
        result.history_load = time.perf_counter() - started
        result.repairs = len(history.repair_rows)
        print(
            f"load {len(history.incident_rows):,} incidents + {len(history.repair_rows):,} "
            f"repairs: {result.history_load:.1f} s ({rows / result.history_load:,.0f} rows/s, "
            "all indexes maintained)"
        )
        started = time.perf_counter()
        await analyze_history(backend, url)
        if backend.name == "postgresql":
            print(f"VACUUM (ANALYZE): {time.perf_counter() - started:.1f} s (not in the load time)")
        print(f"database size: {await backend.size(url) / 2**20:,.0f} MiB")
        await bench_decide(backend, url, history, args, result)
    finally:
        await backend.drop()
    return result


def summary(results: list[Result]) -> None:
    print(
        "\n== summary (ms; ratio = ours / reference, same run; target: decide() median < 5 ms) =="
    )
    header = (
        "| database | knowledge entries | past repairs | load s (entries + history) "
        "| decide median / p99 (session per call) | in an open session median / p99 "
        "| raw gate SQL median | ratio | target met? | all five gates run: median / p99 |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in results:
        median = statistics.median(r.ours)
        ratio = median / statistics.median(r.ref)
        met = "yes" if median < 0.005 else "**no**"
        # Decisions that reach every gate query (the slowest path), session per call.
        full = [i for label in FULL_PATH for i in r.classes.get(label, [])]
        name = f"SQLite {sqlite3.sqlite_version}" if r.database == "sqlite" else "PostgreSQL"
        print(
            f"| {name} | {r.entries:,} | {r.repairs:,} "
            f"| {r.entries_load:.0f} + {r.history_load:.0f} "
            f"| {stats(r.ours)} | {stats(r.ours_open)} "
            f"| {kb.ms(statistics.median(r.ref))} | {ratio:.1f} | {met} "
            f"| {stats([r.ours[i] for i in full])} |"
        )
    if any(r.mismatches for r in results):
        print("WARNING: some verdicts differ from the reference (see above)")


async def main(args: argparse.Namespace) -> None:
    backends: list[kb.Backend] = []
    if args.db in ("sqlite", "both"):
        backends.append(kb.SQLite())
    if args.db in ("postgresql", "both"):
        backends.append(kb.PostgreSQL(args.pg_url))
    started = time.perf_counter()
    print(f"{os.cpu_count()} CPUs, load average {kb.load_average()} at the start")
    results = [await run(backend, args) for backend in backends]
    summary(results)
    print(
        f"total {time.perf_counter() - started:.0f} s; load average {kb.load_average()} at the end"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--entries", type=int, default=1_000_000, help="knowledge entries")
    parser.add_argument("--repairs", type=int, default=100_000, help="past repairs")
    parser.add_argument("--incidents", type=int, default=20_000, help="open incidents to decide")
    parser.add_argument("--decisions", type=int, default=2000, help="decide() calls timed per side")
    parser.add_argument("--rounds", type=int, default=10, help="alternations of the sides")
    parser.add_argument("--pg-url", default=kb.DEFAULT_PG_URL, help="server to create databases on")
    parser.add_argument("--batch", type=int, default=50_000, help="rows per insert/COPY batch")
    parser.add_argument("--seed", type=int, default=7)
    asyncio.run(main(parser.parse_args()))
