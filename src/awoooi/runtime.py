"""Wires settings into the long-lived objects: engine, sessions, job registry, channels."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from awoooi.adapters.git import GitCli, GitClient
from awoooi.adapters.kube import ClusterReader, ClusterWriter, KubeClient, LogReader
from awoooi.adapters.lightkube_client import LightkubeClient
from awoooi.adapters.settings import KubeSettings
from awoooi.ai.breaker import DatabaseBreakers
from awoooi.ai.ledger import DatabaseLedger
from awoooi.ai.notices import rejection_notifier
from awoooi.ai.router import Router, breaker_policy
from awoooi.core import migrate
from awoooi.core.auth import bootstrap_admin_token
from awoooi.core.db import transaction
from awoooi.core.errors import ConfigError, ConflictError
from awoooi.core.foreground import Foreground
from awoooi.core.jobs import JobRegistry, Worker
from awoooi.core.logging import get_logger
from awoooi.core.private_files import private_directory
from awoooi.database import Database
from awoooi.diagnosis.evidence import EvidenceProvider
from awoooi.diagnosis.history import IncidentHistory, KnowledgeEvidence
from awoooi.diagnosis.incidents import (
    DIAGNOSE_JOB,
    DiagnosisPolicy,
    IncidentDiagnoser,
    diagnosis_priority,
    queue_diagnosis,
)
from awoooi.diagnosis.live import KubeSource
from awoooi.diagnosis.source import ClusterSource
from awoooi.drift.evidence import DriftEvidence
from awoooi.drift.remediate import DriftRemediator
from awoooi.drift.scanning import DriftScanner
from awoooi.incidents.models import Incident
from awoooi.incidents.service import IncidentIngestor
from awoooi.incidents.storms import StormGrouper, StormPolicy
from awoooi.knowledge.harvest import KnowledgeHarvester
from awoooi.notify.base import Notifier
from awoooi.notify.channels.log import LogNotifier
from awoooi.notify.channels.slack import SlackNotifier
from awoooi.notify.channels.telegram import TelegramBot, TelegramNotifier
from awoooi.notify.channels.webhook import WebhookNotifier
from awoooi.notify.press import ActionRegistry
from awoooi.notify.routing import NotifyPolicy
from awoooi.notify.service import NotificationSender
from awoooi.repair.playbooks import PlaybookError, load_catalog
from awoooi.repair.service import RepairPolicy, RepairService, queue_decision
from awoooi.retention.schedule import RetentionPruner
from awoooi.retention.service import RetentionPolicy
from awoooi.review_actions import register_review_actions
from awoooi.settings import Settings

log = get_logger(__name__)

ADMIN_TOKEN_FILE = "admin-token"
BOOTSTRAP_TOKEN_NAME = "admin"
# During a storm the in-process worker claims a job at most this often per loop: diagnoses
# wait a little, Alertmanager's webhook calls do not.
STEP_ASIDE_SECONDS = 1.0


def build_notifiers(settings: Settings, telegram: TelegramBot | None = None) -> dict[str, Notifier]:
    """The channels any notification may go to (defaults and routes)."""
    notify = settings.notify
    made: dict[str, Notifier] = {}
    for name in notify.used_channels():
        if name == "log":
            made[name] = LogNotifier()
        elif name == "telegram":
            made[name] = TelegramNotifier(notify.telegram, telegram)
        elif name == "slack":
            made[name] = SlackNotifier(notify.slack)
        elif name == "webhook":
            made[name] = WebhookNotifier(notify.webhook)
    return made


@dataclass
class Runtime:
    """Everything a process (API server, worker, CLI command) shares."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    registry: JobRegistry = field(default_factory=JobRegistry)
    notifiers: dict[str, Notifier] = field(default_factory=dict)

    router: Router | None = None
    notify_policy: NotifyPolicy = field(default_factory=NotifyPolicy)
    actions: ActionRegistry = field(default_factory=ActionRegistry)
    telegram_bot: TelegramBot | None = None
    repair_service: RepairService | None = None
    kube_client: KubeClient | None = None
    git: GitClient = field(default_factory=GitCli)
    # A fixed cluster view for diagnoses (a dump), instead of the live cluster.
    diagnosis_source: ClusterSource | None = None
    drift_remediator: DriftRemediator | None = None
    # Alert deliveries this process is answering: its in-process worker steps aside for them.
    foreground: Foreground = field(default_factory=Foreground)

    @property
    def incident_ingestor(self) -> IncidentIngestor:
        """Alert ingestion configured from `symptoms` and `incidents` settings: every new
        incident joins its storm, if any, else is diagnosed (by the model when
        `ai.diagnose_incidents`, else by the rules)."""
        return IncidentIngestor(
            self.settings.symptoms,
            timedelta(minutes=self.settings.incidents.group_window_minutes),
            on_opened=self._incident_opened,
        )

    @property
    def storms(self) -> StormGrouper:
        """Storm grouping from the `incidents` settings; a storm is notified and diagnosed."""
        incidents = self.settings.incidents
        policy = StormPolicy(
            threshold=incidents.storm_threshold,
            window=incidents.storm_window,
            channels=self.notify_policy,
            public_url=self.settings.public_url,
        )
        return StormGrouper(policy, on_storm=self._queue_diagnosis)

    async def _incident_opened(self, session: AsyncSession, incident: Incident) -> None:
        await self.storms.admit(session, incident)
        if incident.parent_id is None:  # a storm's child is diagnosed through its storm
            await self._queue_diagnosis(session, incident)

    @staticmethod
    async def _queue_diagnosis(session: AsyncSession, incident: Incident) -> None:
        await queue_diagnosis(session, incident.id, priority=diagnosis_priority(incident.severity))

    @staticmethod
    async def _queue_decision(session: AsyncSession, incident: Incident) -> None:
        await queue_decision(session, incident.id)

    @property
    def retention_policy(self) -> RetentionPolicy:
        """How long each kind of row is kept, from the `jobs`, `incidents`, `notify`, `ai`,
        `drift` and `retention` settings."""
        settings = self.settings
        return RetentionPolicy(
            jobs_done_days=settings.jobs.retention_days,
            jobs_dead_days=settings.jobs.dead_retention_days,
            incidents_days=settings.incidents.retention_days,
            notifications_days=settings.notify.retention_days,
            llm_calls_days=settings.ai.retention_days,
            drift_reports_days=settings.drift.retention_days,
            batch_size=settings.retention.batch_size,
        )

    @property
    def repairs(self) -> RepairService:
        """The repair service (built with the runtime)."""
        assert self.repair_service is not None, "runtime built without repairs"
        return self.repair_service

    def kube(self) -> KubeClient | None:
        """The cluster client: the one given, else one from the `kube` settings (made once),
        else None when no cluster is configured."""
        if self.kube_client is None and kube_configured(self.settings.kube):
            kube = self.settings.kube
            self.kube_client = LightkubeClient.connect(
                server=kube.server,
                kubeconfig=str(kube.kubeconfig) if kube.kubeconfig else None,
                context=kube.context,
                in_cluster=kube.in_cluster,
                timeout=kube.timeout_seconds,
            )
        return self.kube_client

    def cluster_configured(self) -> bool:
        """Whether a cluster client was given or can be made from the settings."""
        return self.kube_client is not None or kube_configured(self.settings.kube)

    def cluster_reader(self) -> ClusterReader | None:
        """The cluster client as a reader of any kind (drift), or None without a cluster."""
        client = self.kube()
        return client if isinstance(client, ClusterReader) else None

    def cluster_source(self) -> ClusterSource | None:
        """The cluster as a diagnosis reads it (the one given, else the live cluster through
        the kube adapter: a fresh snapshot per investigation), or None without a cluster."""
        if self.diagnosis_source is not None:
            return self.diagnosis_source
        client = self.kube()
        if isinstance(client, ClusterReader) and isinstance(client, LogReader):
            return KubeSource(client, client)
        return None

    def cluster_writer(self) -> ClusterWriter | None:
        """The cluster client as a writer of any kind (drift rollback), or None."""
        client = self.kube()
        return client if isinstance(client, ClusterWriter) else None

    @property
    def drift_cache_dir(self) -> Path:
        """Where Git checkouts and adopt worktrees live."""
        return self.settings.drift.cache_dir or self.settings.home / "git-cache"

    @property
    def drift(self) -> DriftRemediator:
        """Rollback, adopt and ignore (built with the runtime)."""
        assert self.drift_remediator is not None, "runtime built without drift"
        return self.drift_remediator

    @property
    def ai(self) -> Router:
        """The AI router (built with the runtime)."""
        assert self.router is not None, "runtime built without a router"
        return self.router

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        notifiers: dict[str, Notifier] | None = None,
        kube: KubeClient | None = None,
        git: GitClient | None = None,
        cluster_source: ClusterSource | None = None,
    ) -> Runtime:
        """Create the engine, load the playbooks and register every job handler."""
        try:
            catalog = load_catalog(settings.repair)
        except PlaybookError as exc:
            raise ConfigError(f"repair.playbooks_dir: {exc.detail}") from exc
        database = Database.from_settings(settings)
        telegram = (
            TelegramBot(settings.notify.telegram) if settings.notify.telegram.bot_token else None
        )
        runtime = cls(
            settings=settings,
            engine=database.engine,
            session_factory=database.session_factory,
            notifiers=notifiers if notifiers is not None else build_notifiers(settings, telegram),
            telegram_bot=telegram,
            kube_client=kube,
            diagnosis_source=cluster_source,
            git=git if git is not None else GitCli(),
            notify_policy=NotifyPolicy(settings.notify, settings.public_url),
        )
        NotificationSender(runtime.notifiers).register(runtime.registry)
        runtime.router = Router(
            settings.ai,
            ledger=DatabaseLedger(runtime.session_factory),
            on_reject=rejection_notifier(runtime.session_factory, runtime.notify_policy),
            breakers=DatabaseBreakers(runtime.session_factory, breaker_policy(settings.ai)),
        )
        after = runtime._queue_decision if settings.repair.on_new_incident else None
        IncidentDiagnoser(
            runtime.router,
            source=runtime.cluster_source,
            providers=evidence_providers,
            policy=DiagnosisPolicy(
                use_model=settings.ai.diagnose_incidents,
                max_prompt_chars=settings.ai.max_prompt_chars,
                public_url=settings.public_url,
                channels=runtime.notify_policy,
            ),
            after=after,
        ).register(runtime.registry)
        KnowledgeHarvester(
            runtime.router,
            settings.knowledge,
            runtime.notify_policy,
            public_url=settings.public_url,
        ).register(runtime.registry)
        runtime.repair_service = RepairService(
            runtime.session_factory,
            catalog,
            RepairPolicy(
                repair=settings.repair,
                anti_pattern_days=settings.knowledge.anti_pattern_days,
                channels=runtime.notify_policy,
                public_url=settings.public_url,
            ),
            kube=runtime.kube,
        )
        runtime.repair_service.register(runtime.registry)
        register_review_actions(runtime.actions, runtime.repair_service)
        DriftScanner(
            settings.drift,
            git=runtime.git,
            cache_dir=runtime.drift_cache_dir,
            reader=runtime.cluster_reader,
            router=runtime.router,
            channels=runtime.notify_policy,
            public_url=settings.public_url,
        ).register(runtime.registry)
        RetentionPruner(runtime.session_factory, runtime.retention_policy).register(
            runtime.registry
        )
        runtime.drift_remediator = DriftRemediator(
            settings.drift,
            session_factory=runtime.session_factory,
            git=runtime.git,
            cache_dir=runtime.drift_cache_dir,
            reader=runtime.cluster_reader,
            writer=runtime.cluster_writer,
            cluster_context=settings.kube.context,
        )
        return runtime

    def telegram(self) -> TelegramBot:
        """The Telegram Bot API client (made once, shared with the channel)."""
        if self.telegram_bot is None:
            self.telegram_bot = TelegramBot(self.settings.notify.telegram)
        return self.telegram_bot

    def worker(self, worker_id: str | None = None) -> Worker:
        """A job worker over this runtime's database and handlers."""
        return Worker(
            self.session_factory,
            self.registry,
            self.settings.jobs,
            worker_id=worker_id,
            # The diagnosis budget: the whole job counts, model call or not (see README).
            kind_limits={DIAGNOSE_JOB: self.settings.ai.max_concurrent_diagnoses},
            before_claim=lambda: self.foreground.step_aside(STEP_ASIDE_SECONDS),
        )

    async def migrate(self) -> None:
        """Apply pending migrations; on PostgreSQL one replica at a time (advisory lock)."""
        await migrate.upgrade_exclusively(self.engine)

    async def ensure_admin_token(self) -> Path | None:
        """On first start (no token at all) create an admin token and write it to a 0600 file."""
        try:
            async with transaction(self.session_factory) as session:
                issued = await bootstrap_admin_token(session, name=BOOTSTRAP_TOKEN_NAME)
                if issued is None:
                    return None
                path = write_secret_file(self.settings.home / ADMIN_TOKEN_FILE, issued.secret)
        except ConflictError:  # another replica bootstrapped at the same moment
            return None
        log.info("created the first admin token", token_path=str(path))
        return path

    async def dispose(self) -> None:
        """Close every database and model connection."""
        if self.router is not None:
            await self.router.aclose()
        if self.repair_service is not None:
            await self.repair_service.aclose()
        if self.kube_client is not None:
            await self.kube_client.aclose()
        if self.telegram_bot is not None:
            await self.telegram_bot.aclose()
        for notifier in self.notifiers.values():
            close = getattr(notifier, "aclose", None)
            if close is not None:
                await close()
        await self.engine.dispose()


def evidence_providers(session: AsyncSession, incident: Incident) -> list[EvidenceProvider]:
    """What a diagnosis reads besides the cluster: the knowledge base for these symptoms, how
    similar incidents ended, and drift of the target."""
    return [
        KnowledgeEvidence(session, incident),
        IncidentHistory(session, incident),
        DriftEvidence(session),
    ]


def kube_configured(settings: KubeSettings) -> bool:
    """Whether any way to reach a cluster is configured (settings, $KUBECONFIG, ~/.kube)."""
    if settings.server or settings.kubeconfig or settings.in_cluster:
        return True
    return bool(os.environ.get("KUBECONFIG")) or (Path.home() / ".kube" / "config").is_file()


def write_secret_file(path: Path, secret: str) -> Path:
    """Write a secret readable by its owner only (0600), replacing any older file."""
    private_directory(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, (secret + "\n").encode("utf-8"))
    finally:
        os.close(descriptor)
    return path.resolve()
