"""Knowledge base at scale: anti-pattern checks on 1,000,000 entries, search on 100,000."""

# Run from the repository root with the project's venv:
#
#     .venv/bin/python bench/knowledge.py [--db sqlite|postgresql|both] [--entries 1000000]
#         [--search-entries 100000] [--pg-url URL] [--lookups 2000] [--queries 300]
#         [--like-queries 30] [--rounds 10] [--batch 50000] [--seed 7]
#
# For each database it builds the schema with the real migrations in a fresh database (SQLite:
# a file in a temporary directory; PostgreSQL: a uniquely named database on --pg-url's server,
# dropped at the end), then:
#
# 1. bulk-loads --entries generated SRE-style entries (SQLite: Core insert() executemany, one
#    transaction per batch, synchronous=OFF on the loading connection only; PostgreSQL: asyncpg
#    COPY). The FTS5 triggers / generated tsvector column and every index are live during the
#    load, as they would be in production. PostgreSQL gets VACUUM ANALYZE afterwards (what
#    autovacuum would do); SQLite gets nothing, since the app never runs ANALYZE;
# 2. times --lookups calls of the real check_anti_pattern() (each in its own session, as the app
#    does), interleaved with the same lookup as one raw-driver statement (sqlite3 / asyncpg, no
#    SQLAlchemy), so the ratio is the ORM + service + async-driver overhead; both sides must
#    return the same entry. Lookup hashes follow the data's popularity (Zipf) plus 20% unseen;
#    the plan is of the statement the service sent, for the commonest hash (the worst case);
# 3. loads --search-entries into a second fresh database and times --queries 1-3 word queries
#    through the real search() (first page of 20, with snippets), against a naive
#    LIKE '%word%' scan over title and content (count + first page, like search()) for the first
#    --like-queries of them. Plans are of the statements search() sent.
#
# Ratios are ours / reference from the same run. Defaults take about 7 minutes for `both` on two
# busy cores; the two 1,000,000-entry loads (~2.5 minutes each) are most of it.

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import math
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event, insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from awoooi.core.db import create_engine, create_session_factory
from awoooi.core.migrate import upgrade
from awoooi.knowledge.models import EntrySource, EntryStatus, EntryType, KnowledgeEntry
from awoooi.knowledge.search import Filters, query_terms, search
from awoooi.knowledge.service import check_anti_pattern

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TABLE = KnowledgeEntry.__table__
# Every column the model maps (PostgreSQL's generated search_vector is not one of them).
COLUMNS: tuple[str, ...] = tuple(column.name for column in TABLE.columns if column.name != "id")
SELECT_COLUMNS = ", ".join(column.name for column in TABLE.columns)
ANTI_PATTERN_DAYS = 7
PAGE = 20

# --- data -------------------------------------------------------------------------------------

KINDS = (
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Service",
    "Ingress",
    "Node",
    "PersistentVolumeClaim",
    "ReplicaSet",
    "HorizontalPodAutoscaler",
    "ConfigMap",
    "Secret",
)
# Ordered by how often they come up (the generator picks them Zipf-style).
PROBLEMS = (
    "CrashLoopBackOff",
    "OOMKilled",
    "connection refused",
    "ImagePullBackOff",
    "readiness probe failed",
    "disk pressure",
    "context deadline exceeded",
    "5xx error spike",
    "liveness probe failed",
    "FailedScheduling",
    "certificate expired",
    "memory pressure",
    "DNS resolution failed",
    "connection pool exhausted",
    "no space left on device",
    "p99 latency regression",
    "node NotReady",
    "pod evicted",
    "ErrImagePull",
    "too many open files",
    "TLS handshake timeout",
    "Insufficient cpu",
    "PVC stuck Pending",
    "volume mount failed",
    "429 rate limited",
    "replication lag",
    "deadlock detected",
    "leader election lost",
    "segmentation fault",
    "x509 certificate signed by unknown authority",
)
TRIGGERS = (
    "a deploy",
    "a config change",
    "a node pool upgrade",
    "a traffic spike",
    "the nightly batch",
    "a certificate rotation",
    "a zone failover",
    "a scale down",
    "a dependency upgrade",
    "a Helm chart bump",
)
CAUSES = (
    "the memory limit is below the working set",
    "the image tag was deleted from the registry",
    "the upstream database rejected new connections",
    "the node ran out of ephemeral storage",
    "the readiness endpoint depends on a slow downstream",
    "cert-manager did not renew the certificate",
    "CoreDNS pods were CPU throttled",
    "a connection leak in the client pool",
    "the storage class has no capacity left",
    "the liveness probe timeout is shorter than GC pauses",
    "log files filled the root volume",
    "the HPA maximum replicas is too low for peak traffic",
    "registry credentials in the pull secret expired",
    "a noisy neighbour saturated the node",
    "the new release reads a config key that does not exist",
)
ACTIONS = (
    "raise the memory limit and redeploy",
    "roll back to the previous ReplicaSet",
    "scale the Deployment up",
    "cordon and drain the node",
    "rotate the certificate and restart the ingress controller",
    "prune unused images on the node",
    "increase the connection pool size",
    "lengthen the probe timeout",
    "fix the image tag in the manifest",
    "refresh the registry pull secret",
    "expand the PersistentVolumeClaim",
    "raise the file descriptor limit",
    "restart the CoreDNS pods",
    "fail over to the replica",
    "add a PodDisruptionBudget",
)
BAD_ACTIONS = (
    "restarting the pod in a loop",
    "deleting the PVC",
    "scaling to zero",
    "disabling the probe",
    "force deleting the namespace",
    "raising CPU limits",
    "rebooting the node",
    "flushing the whole cache",
)
CHECKS = (
    "the error rate is back under 1%",
    "kubectl get pods shows every replica Ready",
    "p99 latency is under 300 ms",
    "no new warning events for 15 minutes",
    "the alert resolved on its own",
    "the queue backlog drains",
)
SERVICE_PREFIXES = (
    "payments",
    "checkout",
    "cart",
    "search",
    "auth",
    "billing",
    "inventory",
    "orders",
    "shipping",
    "notifications",
    "gateway",
    "catalog",
    "recommendations",
    "profile",
    "ledger",
    "fraud",
    "reporting",
    "media",
    "session",
    "webhooks",
)
SERVICE_SUFFIXES = ("api", "web", "worker", "db", "cache", "consumer", "cron", "proxy")
NAMESPACES = ("prod", "staging", "payments", "platform", "data", "edge", "default", "monitoring")
TAGS = (
    "kubernetes",
    "database",
    "network",
    "storage",
    "memory",
    "cpu",
    "tls",
    "dns",
    "deploy",
    "rollback",
    "capacity",
    "config",
    "registry",
    "probe",
    "scheduler",
)
CATEGORIES = ("availability", "performance", "capacity", "security", "deployment", "data")
PEOPLE = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
UNHASHED_TYPES = (
    EntryType.RUNBOOK,
    EntryType.RUNBOOK,
    EntryType.REFERENCE,
    EntryType.POSTMORTEM,
    EntryType.AUTO_RUNBOOK,
)
# Queries people type that match nothing in this corpus.
MISSES = ("kafka rebalance", "etcd quorum", "gpu xid", "istio sidecar", "vault unseal")


def zipf_cumulative(count: int, exponent: float) -> list[float]:
    """Cumulative weights 1/rank^exponent for ranks 1..count."""
    total = 0.0
    cumulative = []
    for rank in range(1, count + 1):
        total += 1.0 / rank**exponent
        cumulative.append(total)
    return cumulative


@dataclass
class Corpus:
    """Deterministic generator of knowledge entries, lookup hashes and search queries."""

    seed: int
    entries: int
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    hash_counts: Counter[str] = field(default_factory=Counter)
    anti_published: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.services = [f"{p}-{s}" for p in SERVICE_PREFIXES for s in SERVICE_SUFFIXES]
        self.rng.shuffle(self.services)
        self.service_weights = zipf_cumulative(len(self.services), 0.8)
        self.problem_weights = zipf_cumulative(len(PROBLEMS), 0.7)
        # ~20% of entries carry a symptoms hash, drawn from a pool of entries/20 hashes with
        # Zipf(1.0) popularity: a few flapping alerts account for most repeats, most hashes
        # occur once or a few times.
        distinct = max(100, self.entries // 20)
        self.hashes = [f"{self.rng.getrandbits(64):016x}" for _ in range(distinct)]
        self.hash_weights = zipf_cumulative(distinct, 1.0)

    def pick(self, values: Sequence[str], cumulative: list[float]) -> str:
        """One value, Zipf-weighted by position."""
        index = bisect.bisect(cumulative, self.rng.random() * cumulative[-1])
        return values[min(index, len(values) - 1)]

    def _ago(self, max_days: float) -> datetime:
        return self.now - timedelta(seconds=self.rng.random() * max_days * 86400)

    def _text(self, problem: str, kind: str, service: str, anti: bool) -> tuple[str, str]:
        rng = self.rng
        namespace = rng.choice(NAMESPACES)
        action = rng.choice(ACTIONS)
        style = rng.randrange(4)
        if anti:
            bad = rng.choice(BAD_ACTIONS)
            title = f"Do not try {bad} for {problem} on {service}"
        elif style == 0:
            title = f"{kind} {service} {problem} after {rng.choice(TRIGGERS)}"
        elif style == 1:
            title = f"{service}: {problem} in {namespace}"
        elif style == 2:
            title = f"Runbook: {problem} on {kind} {service}"
        else:
            title = f"{problem} ({kind} {namespace}/{service})"
        sentences = [
            f"Symptom: {kind} {service} in namespace {namespace} reports {problem} "
            f"after {rng.choice(TRIGGERS)}.",
            f"Likely cause: {rng.choice(CAUSES)}.",
        ]
        if anti:
            sentences.append(
                f"Anti-pattern: {rng.choice(BAD_ACTIONS)} did not help and made the outage "
                f"longer; {action} instead."
            )
        else:
            sentences.append(f"Fix: {action}, then check that {rng.choice(CHECKS)}.")
        if rng.random() < 0.6:
            other = self.pick(PROBLEMS, self.problem_weights)
            sentences.append(
                f"Often follows {other} on {self.pick(self.services, self.service_weights)}."
            )
        if rng.random() < 0.5:
            sentences.append(
                f"Seen {rng.randrange(2, 40)} times in the last {rng.randrange(7, 90)} days; "
                f"escalate to the {rng.choice(SERVICE_PREFIXES)} on-call if {rng.choice(CHECKS)} "
                "does not hold within 30 minutes."
            )
        return title, " ".join(sentences)

    def entry(self, index: int) -> tuple[Any, ...]:
        """One entry as a tuple in COLUMNS order (tags/services as lists)."""
        rng = self.rng
        problem = self.pick(PROBLEMS, self.problem_weights)
        kind = rng.choice(KINDS)
        service = self.pick(self.services, self.service_weights)
        symptoms_hash: str | None = None
        roll = rng.random()
        if rng.random() < 0.20:
            symptoms_hash = self.pick(self.hashes, self.hash_weights)
            self.hash_counts[symptoms_hash] += 1
            if roll < 0.25:  # 5% of all entries: published anti-patterns, the last 30 days
                entry_type, status = EntryType.ANTI_PATTERN, EntryStatus.PUBLISHED
            elif roll < 0.35:
                entry_type = EntryType.ANTI_PATTERN
                status = rng.choice((EntryStatus.DRAFT, EntryStatus.ARCHIVED, EntryStatus.REJECTED))
            elif roll < 0.75:
                entry_type = EntryType.AUTO_RUNBOOK
                status = rng.choice((EntryStatus.DRAFT, EntryStatus.DRAFT, EntryStatus.PUBLISHED))
            elif roll < 0.90:
                entry_type, status = EntryType.POSTMORTEM, EntryStatus.PUBLISHED
            else:
                entry_type, status = EntryType.RUNBOOK, EntryStatus.PUBLISHED
        else:
            entry_type = rng.choice(UNHASHED_TYPES)
            status = (
                EntryStatus.PUBLISHED
                if roll < 0.60
                else EntryStatus.DRAFT
                if roll < 0.85
                else EntryStatus.ARCHIVED
                if roll < 0.95
                else EntryStatus.REJECTED
            )
        anti = entry_type is EntryType.ANTI_PATTERN
        source = (
            EntrySource.AI_EXTRACTED
            if anti or entry_type is EntryType.AUTO_RUNBOOK
            else rng.choice((EntrySource.MANUAL, EntrySource.MANUAL, EntrySource.IMPORTED))
        )
        published_at: datetime | None = None
        reviewed_by: str | None = None
        reviewed_at: datetime | None = None
        if anti and status is EntryStatus.PUBLISHED:
            self.anti_published += 1
            published_at = self._ago(30)
            created_at = published_at
        else:
            created_at = self._ago(365)
            if status in (EntryStatus.PUBLISHED, EntryStatus.REJECTED):
                reviewed_by = rng.choice(PEOPLE)
                reviewed_at = min(self.now, created_at + timedelta(hours=rng.random() * 48))
                if status is EntryStatus.PUBLISHED:
                    published_at = reviewed_at
        updated_at = max(created_at, published_at or created_at, reviewed_at or created_at)
        title, content = self._text(problem, kind, service, anti)
        tags = sorted(set(rng.sample(TAGS, rng.randrange(1, 4))))
        services = sorted({service, self.pick(self.services, self.service_weights)})
        harvest_key = f"repair:{index}" if entry_type is EntryType.AUTO_RUNBOOK else None
        incident = f"INC-{rng.randrange(1, 10**6):06d}" if rng.random() < 0.3 else None
        values = {
            "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "title": title,
            "content": content,
            "entry_type": entry_type.value,
            "category": rng.choice(CATEGORIES),
            "tags": tags,
            "services": services,
            "source": source.value,
            "status": status.value,
            "related_incident_id": incident,
            "related_playbook_id": None,
            "symptoms_hash": symptoms_hash,
            "harvest_key": harvest_key,
            "created_by": "harvester" if source is EntrySource.AI_EXTRACTED else rng.choice(PEOPLE),
            "reviewed_by": reviewed_by,
            "reviewed_at": reviewed_at,
            "review_note": None,
            "version": 1,
            "published_at": published_at,
            "created_at": created_at,
            "updated_at": updated_at,
        }
        return tuple(values[name] for name in COLUMNS)

    def batches(self, size: int) -> Iterator[list[tuple[Any, ...]]]:
        """All entries, `size` at a time."""
        for start in range(0, self.entries, size):
            yield [self.entry(i) for i in range(start, min(self.entries, start + size))]

    def lookup_hashes(self, count: int) -> list[str]:
        """Hashes to check: 80% by the data's popularity, 20% never seen."""
        return [
            self.pick(self.hashes, self.hash_weights)
            if self.rng.random() < 0.8
            else f"{self.rng.getrandbits(64):016x}"
            for _ in range(count)
        ]

    def queries(self, count: int) -> list[str]:
        """1-3 word queries of the kind people type: problems, kinds, services."""
        result = []
        for _ in range(count):
            if self.rng.random() < 0.05:
                result.append(self.rng.choice(MISSES))
                continue
            words = self.pick(PROBLEMS, self.problem_weights).lower().split()
            extra = [
                self.rng.choice(KINDS).lower(),
                self.pick(self.services, self.service_weights).split("-")[0],
            ]
            self.rng.shuffle(extra)
            wanted = self.rng.choices((1, 2, 3), weights=(45, 40, 15))[0]
            if len(words) > wanted:
                words = words[-wanted:] if wanted == 1 else words[:wanted]
            result.append(" ".join((words + extra)[:wanted]))
        return result


# --- measuring --------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def load_average() -> str:
    """The 1/5/15 minute load averages (other work on the machine skews the tails)."""
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}" if seconds < 0.01 else f"{seconds * 1000:.1f}"


@contextmanager
def captured(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """The statements and parameters SQLAlchemy sends to the driver inside the block."""
    sent: list[tuple[str, Any]] = []

    def listener(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
    ) -> None:
        sent.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", listener)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", listener)


@dataclass
class Result:
    """One database's numbers, for the summary."""

    database: str
    entries: int = 0
    load_seconds: float = 0.0
    lookups: list[float] = field(default_factory=list)
    lookups_ref: list[float] = field(default_factory=list)
    lookups_open: list[float] = field(default_factory=list)
    search_entries: int = 0
    search_load_seconds: float = 0.0
    searches: list[float] = field(default_factory=list)
    searches_subset: list[float] = field(default_factory=list)
    likes: list[float] = field(default_factory=list)
    search_error: str = ""


class Backend:
    """A fresh database of one kind: create, load, raw-driver access, plans, drop."""

    name = ""

    async def create(self) -> str:
        raise NotImplementedError

    async def drop(self) -> None:
        raise NotImplementedError

    async def load(self, url: str, corpus: Corpus, batch: int) -> None:
        raise NotImplementedError

    async def after_load(self, url: str) -> None:
        """Housekeeping the app's database would get anyway."""

    async def size(self, url: str) -> int:
        raise NotImplementedError

    async def open_raw(self, url: str) -> None:
        raise NotImplementedError

    async def close_raw(self) -> None:
        raise NotImplementedError

    async def raw_anti_pattern(self, symptoms_hash: str, since: datetime) -> int | None:
        raise NotImplementedError

    async def raw_like(self, terms: list[str]) -> int:
        raise NotImplementedError

    async def plan(self, statement: str, parameters: Any) -> list[str]:
        raise NotImplementedError


ANTI_SQL = (
    f"SELECT {SELECT_COLUMNS} FROM knowledge_entries WHERE symptoms_hash = {{0}} "
    "AND entry_type = {1} AND status = {2} AND published_at >= {3} "
    "ORDER BY published_at DESC, id DESC LIMIT 1"
)


def like_sql(terms: list[str], placeholder: Callable[[int], str], op: str) -> tuple[str, str]:
    """Naive count and first-page statements: every term somewhere in title or content."""
    where = " AND ".join(
        f"(title {op} {placeholder(i)} OR content {op} {placeholder(i)})" for i in range(len(terms))
    )
    count = f"SELECT count(*) FROM knowledge_entries WHERE {where}"
    page = (
        f"SELECT id, title, substr(content, 1, 160) FROM knowledge_entries WHERE {where} "
        f"ORDER BY id DESC LIMIT {PAGE}"
    )
    return count, page


class SQLite(Backend):
    name = "sqlite"

    def __init__(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="awoooi-bench-")
        self.counter = 0
        self.raw: sqlite3.Connection | None = None
        self.path = Path()

    async def create(self) -> str:
        self.counter += 1
        self.path = Path(self.tmp.name) / f"knowledge{self.counter}.db"
        return f"sqlite+aiosqlite:///{self.path}"

    async def drop(self) -> None:
        self.tmp.cleanup()

    async def load(self, url: str, corpus: Corpus, batch: int) -> None:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                # Only this connection, only for the load.
                for pragma in ("synchronous=OFF", "cache_size=-262144", "temp_store=MEMORY"):
                    await conn.exec_driver_sql(f"PRAGMA {pragma}")
                statement = insert(KnowledgeEntry)
                for rows in corpus.batches(batch):
                    await conn.execute(
                        statement, [dict(zip(COLUMNS, row, strict=True)) for row in rows]
                    )
                    await conn.commit()
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                for pragma in ("synchronous=NORMAL", "cache_size=-2000", "temp_store=DEFAULT"):
                    await conn.exec_driver_sql(f"PRAGMA {pragma}")
        finally:
            await engine.dispose()

    async def size(self, url: str) -> int:
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))

    async def open_raw(self, url: str) -> None:
        self.raw = sqlite3.connect(self.path)

    async def close_raw(self) -> None:
        if self.raw is not None:
            self.raw.close()
            self.raw = None

    async def raw_anti_pattern(self, symptoms_hash: str, since: datetime) -> int | None:
        assert self.raw is not None
        row = self.raw.execute(
            ANTI_SQL.format("?", "?", "?", "?"),
            (
                symptoms_hash,
                EntryType.ANTI_PATTERN.value,
                EntryStatus.PUBLISHED.value,
                since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
            ),
        ).fetchone()
        return None if row is None else int(row[0])

    async def raw_like(self, terms: list[str]) -> int:
        assert self.raw is not None
        count, page = like_sql(terms, lambda _i: "?", "LIKE")
        # Each placeholder appears twice per term (title and content).
        params = [f"%{term}%" for term in terms for _ in range(2)]
        total = int(self.raw.execute(count, params).fetchone()[0])
        self.raw.execute(page, params).fetchall()
        return total

    async def plan(self, statement: str, parameters: Any) -> list[str]:
        with sqlite3.connect(self.path) as conn:
            rows = conn.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
        depth: dict[int, int] = {0: 0}
        lines = []
        for node, parent, _unused, detail in rows:
            depth[node] = depth.get(parent, 0) + 1
            lines.append("  " * depth[node] + str(detail))
        return lines


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgreSQL(Backend):
    name = "postgresql"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.databases: list[str] = []
        self.raw: asyncpg.Connection | None = None

    async def _admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(asyncpg_dsn(self.base_url))

    async def create(self) -> str:
        name = f"awoooi_bench_{uuid.uuid4().hex[:12]}"
        admin = await self._admin()
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        self.databases.append(name)
        return make_url(self.base_url).set(database=name).render_as_string(hide_password=False)

    async def drop(self) -> None:
        await self.close_raw()
        admin = await self._admin()
        try:
            for name in self.databases:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        self.databases.clear()

    async def _connect(self, url: str) -> asyncpg.Connection:
        return await asyncpg.connect(asyncpg_dsn(url), server_settings={"timezone": "UTC"})

    async def load(self, url: str, corpus: Corpus, batch: int) -> None:
        conn = await self._connect(url)
        try:
            json_columns = [COLUMNS.index("tags"), COLUMNS.index("services")]
            for rows in corpus.batches(batch):
                records = []
                for row in rows:
                    record = list(row)
                    for index in json_columns:
                        record[index] = json.dumps(record[index])
                    records.append(record)
                await conn.copy_records_to_table(
                    "knowledge_entries", records=records, columns=list(COLUMNS)
                )
        finally:
            await conn.close()

    async def after_load(self, url: str) -> None:
        conn = await self._connect(url)
        try:
            await conn.execute("VACUUM (ANALYZE) knowledge_entries")
        finally:
            await conn.close()

    async def size(self, url: str) -> int:
        conn = await self._connect(url)
        try:
            return int(await conn.fetchval("SELECT pg_database_size(current_database())"))
        finally:
            await conn.close()

    async def open_raw(self, url: str) -> None:
        self.raw = await self._connect(url)

    async def close_raw(self) -> None:
        if self.raw is not None:
            await self.raw.close()
            self.raw = None

    async def raw_anti_pattern(self, symptoms_hash: str, since: datetime) -> int | None:
        assert self.raw is not None
        row = await self.raw.fetchrow(
            ANTI_SQL.format("$1", "$2", "$3", "$4"),
            symptoms_hash,
            EntryType.ANTI_PATTERN.value,
            EntryStatus.PUBLISHED.value,
            since,
        )
        return None if row is None else int(row[0])

    async def raw_like(self, terms: list[str]) -> int:
        assert self.raw is not None
        count, page = like_sql(terms, lambda i: f"${i + 1}", "ILIKE")
        params = [f"%{term}%" for term in terms]
        total = int(await self.raw.fetchval(count, *params))
        await self.raw.fetch(page, *params)
        return total

    async def plan(self, statement: str, parameters: Any) -> list[str]:
        assert self.raw is not None
        rows = await self.raw.fetch("EXPLAIN (ANALYZE, BUFFERS) " + statement, *parameters)
        return ["  " + str(row[0]) for row in rows]


# --- the benchmark ----------------------------------------------------------------------------


async def build(backend: Backend, entries: int, seed: int, batch: int) -> tuple[str, Corpus, float]:
    """A fresh migrated database loaded with `entries` entries; its URL, corpus, load time."""
    url = await backend.create()
    engine = create_engine(url)
    started = time.perf_counter()
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    print(f"schema: migrations to head in {time.perf_counter() - started:.1f} s")
    corpus = Corpus(seed=seed, entries=entries)
    started = time.perf_counter()
    await backend.load(url, corpus, batch)
    load_seconds = time.perf_counter() - started
    print(
        f"load {entries:,} entries: {load_seconds:.1f} s ({entries / load_seconds:,.0f} rows/s, "
        "FTS/tsvector and all indexes maintained)"
    )
    started = time.perf_counter()
    await backend.after_load(url)
    if backend.name == "postgresql":
        print(f"VACUUM (ANALYZE): {time.perf_counter() - started:.1f} s (not in the load time)")
    print(f"database size: {await backend.size(url) / 2**20:,.0f} MiB")
    return url, corpus, load_seconds


async def bench_anti_pattern(
    backend: Backend, url: str, corpus: Corpus, lookups: int, rounds: int, result: Result
) -> None:
    hashed = sum(corpus.hash_counts.values())
    top_hash, top_count = corpus.hash_counts.most_common(1)[0]
    print(
        f"symptoms_hash on {hashed:,} entries ({hashed / corpus.entries:.0%}), "
        f"{len(corpus.hash_counts):,} distinct, commonest on {top_count:,}; "
        f"ANTI_PATTERN PUBLISHED (last 30 days): {corpus.anti_published:,}"
    )
    engine = create_engine(url)
    factory = create_session_factory(engine)
    await backend.open_raw(url)
    try:

        async def ours(symptoms_hash: str, now: datetime | None = None) -> int | None:
            async with factory() as session:
                entry = await check_anti_pattern(session, symptoms_hash, ANTI_PATTERN_DAYS, now=now)
                return None if entry is None else entry.id

        async def reference(symptoms_hash: str, now: datetime | None = None) -> int | None:
            since = (now or datetime.now(UTC)) - timedelta(days=ANTI_PATTERN_DAYS)
            return await backend.raw_anti_pattern(symptoms_hash, since)

        hashes = corpus.lookup_hashes(lookups)
        # Same answers, at one fixed instant (untimed).
        fixed = datetime.now(UTC)
        mismatches = 0
        hits = 0
        for symptoms_hash in hashes:
            mine = await ours(symptoms_hash, fixed)
            hits += mine is not None
            mismatches += mine != await reference(symptoms_hash, fixed)
        print(
            f"check_anti_pattern x {lookups:,}: {hits:,} hits, {lookups - hits:,} misses; "
            f"{mismatches} differ from the reference"
        )

        async def timed(
            call: Callable[[str], Awaitable[int | None]], batch: list[str]
        ) -> list[float]:
            times = []
            for symptoms_hash in batch:
                started = time.perf_counter()
                await call(symptoms_hash)
                times.append(time.perf_counter() - started)
            return times

        await timed(ours, hashes[:200])  # warm up
        await timed(reference, hashes[:200])
        per_round = max(1, lookups // rounds)
        for index in range(rounds):
            part = hashes[index * per_round : (index + 1) * per_round]
            # The repair gate calls the check inside the session its decision already holds:
            # the function's own cost, without a pool checkout per call.
            async with factory() as open_session:

                async def in_open_session(
                    symptoms_hash: str, session: AsyncSession = open_session
                ) -> int | None:
                    entry = await check_anti_pattern(session, symptoms_hash, ANTI_PATTERN_DAYS)
                    return None if entry is None else entry.id

                await in_open_session(part[0])  # the session's first statement opens it
                # Alternate the order so neither side always runs on a warmer machine.
                sides = [
                    (result.lookups_ref, reference),
                    (result.lookups, ours),
                    (result.lookups_open, in_open_session),
                ]
                for bucket, call in sides if index % 2 == 0 else reversed(sides):
                    bucket.extend(await timed(call, part))
        print(f"  {'path':<36}{'median ms':>11}{'p99 ms':>10}")
        for label, values in (
            (
                f"raw {'sqlite3' if backend.name == 'sqlite' else 'asyncpg'} (reference)",
                result.lookups_ref,
            ),
            ("awoooi check_anti_pattern (session)", result.lookups),
            ("awoooi check_anti_pattern (open session)", result.lookups_open),
        ):
            print(
                f"  {label:<36}{ms(statistics.median(values)):>11}{ms(percentile(values, 99)):>10}"
            )
        ratio = statistics.median(result.lookups) / statistics.median(result.lookups_ref)
        print(f"  ratio ours/reference (median): {ratio:.1f}  (target < 2 ms)")

        with captured(engine) as sent:
            await ours(top_hash)
        statement, parameters = next(s for s in sent if "knowledge_entries" in s[0])
        print(f"plan for the commonest hash ({top_count:,} entries):")
        print("\n".join(await backend.plan(statement, parameters)))
    finally:
        await backend.close_raw()
        await engine.dispose()


async def bench_search(
    backend: Backend, url: str, corpus: Corpus, queries: int, like_queries: int, result: Result
) -> None:
    engine = create_engine(url)
    factory = create_session_factory(engine)
    await backend.open_raw(url)
    try:
        texts = corpus.queries(queries)
        totals: list[int] = []

        async def ours(query: str) -> int:
            async with factory() as session:
                hits, total = await search(session, query, Filters(), limit=PAGE, offset=0)
                assert len(hits) == min(PAGE, total)
                return total

        try:
            for query in texts[:20]:  # warm up
                await ours(query)
            for query in texts:
                started = time.perf_counter()
                totals.append(await ours(query))
                result.searches.append(time.perf_counter() - started)
        except Exception as exc:
            result.search_error = str(exc).splitlines()[0]
            print(f"search() FAILED: {type(exc).__name__}: {result.search_error}")
        result.searches_subset = result.searches[:like_queries]
        for query in texts[:like_queries]:
            started = time.perf_counter()
            await backend.raw_like(query_terms(query))
            result.likes.append(time.perf_counter() - started)
        words = Counter(len(query_terms(q)) for q in texts)
        print(
            f"search x {queries}: queries of 1/2/3 words: {words[1]}/{words[2]}/{words[3]}; "
            "examples: " + ", ".join(repr(q) for q in texts[:6])
        )
        if totals:
            print(
                f"matches per query: median {statistics.median(totals):,.0f}, "
                f"p95 {percentile(totals, 95):,}, max {max(totals):,}, "
                f"{sum(t == 0 for t in totals)} with none"
            )
        print(f"  {'path':<44}{'queries':>8}{'p50 ms':>9}{'p95 ms':>9}")
        for label, values in (
            ("awoooi search() (count + page + snippets)", result.searches),
            ("  same, first queries only", result.searches_subset),
            ("naive LIKE '%word%' scan (reference)", result.likes),
        ):
            if values:
                print(
                    f"  {label:<44}{len(values):>8}{ms(statistics.median(values)):>9}"
                    f"{ms(percentile(values, 95)):>9}"
                )
        if result.search_error:
            return
        ratio = statistics.median(result.searches_subset) / statistics.median(result.likes)
        print(
            f"  ratio ours/reference (p50, same queries): {ratio:.3f}  (target: ours p95 < 50 ms)"
        )

        sample = "connection refused"
        with captured(engine) as sent:
            await ours(sample)
        for statement, parameters in sent:
            if "knowledge_entries" not in statement:
                continue
            kind = "count" if "count(" in statement.lower() else "page"
            print(f"plan for {sample!r}, {kind} statement:")
            print("\n".join(await backend.plan(statement, parameters)))
    finally:
        await backend.close_raw()
        await engine.dispose()


async def run(backend: Backend, args: argparse.Namespace) -> Result:
    result = Result(backend.name)
    label = f"SQLite {sqlite3.sqlite_version}" if backend.name == "sqlite" else "PostgreSQL"
    try:
        print(f"\n== {label}: check_anti_pattern at {args.entries:,} entries ==")
        url, corpus, result.load_seconds = await build(backend, args.entries, args.seed, args.batch)
        result.entries = args.entries
        await bench_anti_pattern(backend, url, corpus, args.lookups, args.rounds, result)
        print(f"\n== {label}: search at {args.search_entries:,} entries ==")
        url, corpus, result.search_load_seconds = await build(
            backend, args.search_entries, args.seed + 1, args.batch
        )
        result.search_entries = args.search_entries
        await bench_search(backend, url, corpus, args.queries, args.like_queries, result)
    finally:
        await backend.drop()
    return result


def summary(results: list[Result]) -> None:
    print("\n== summary (ms; ratio = ours / reference, same run) ==")
    header = (
        "| database | entries | load s (rows/s) | check_anti_pattern median / p99 "
        "| in an open session median / p99 "
        "| raw driver median | ratio | search entries | search p50 / p95 | LIKE scan p50 | ratio |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in results:
        anti_ratio = statistics.median(r.lookups) / statistics.median(r.lookups_ref)
        if r.search_error:
            searched = f"search() failed | {ms(statistics.median(r.likes))} | - |"
        else:
            search_ratio = statistics.median(r.searches_subset) / statistics.median(r.likes)
            searched = (
                f"{ms(statistics.median(r.searches))} / {ms(percentile(r.searches, 95))} "
                f"| {ms(statistics.median(r.likes))} | {search_ratio:.3f} |"
            )
        print(
            f"| {r.database} | {r.entries:,} "
            f"| {r.load_seconds:.0f} ({r.entries / r.load_seconds:,.0f}) "
            f"| {ms(statistics.median(r.lookups))} / {ms(percentile(r.lookups, 99))} "
            f"| {ms(statistics.median(r.lookups_open))} / {ms(percentile(r.lookups_open, 99))} "
            f"| {ms(statistics.median(r.lookups_ref))} | {anti_ratio:.1f} "
            f"| {r.search_entries:,} | {searched}"
        )


async def main(args: argparse.Namespace) -> None:
    backends: list[Backend] = []
    if args.db in ("sqlite", "both"):
        backends.append(SQLite())
    if args.db in ("postgresql", "both"):
        backends.append(PostgreSQL(args.pg_url))
    started = time.perf_counter()
    print(f"{os.cpu_count()} CPUs, load average {load_average()} at the start")
    results = [await run(backend, args) for backend in backends]
    summary(results)
    print(f"total {time.perf_counter() - started:.0f} s; load average {load_average()} at the end")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--entries", type=int, default=1_000_000, help="for check_anti_pattern")
    parser.add_argument("--search-entries", type=int, default=100_000, help="for search")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="server to create databases on")
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10, help="alternations of the two sides")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--like-queries", type=int, default=30)
    parser.add_argument("--batch", type=int, default=50_000, help="rows per insert/COPY batch")
    parser.add_argument("--seed", type=int, default=7)
    asyncio.run(main(parser.parse_args()))
