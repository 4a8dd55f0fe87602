"""Route a prompt along its intent's provider chain: local-only where it must be, never raising."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from awoooi.ai.breaker import BreakerPolicy, BreakerState, BreakerStore, MemoryBreakers
from awoooi.ai.intents import Intent, is_local_only
from awoooi.ai.ledger import CallLedger, CallRecord
from awoooi.ai.providers.base import BackendError, ChatBackend, Message, make_client
from awoooi.ai.providers.ollama import OllamaBackend
from awoooi.ai.providers.openai_compat import OpenAICompatBackend
from awoooi.ai.settings import AISettings, ProviderConfig
from awoooi.core.logging import get_logger
from awoooi.core.logging import redact_text as redact

log = get_logger(__name__)


@dataclass(frozen=True)
class Attempt:
    """What happened with one provider during one call."""

    provider: str
    outcome: str  # success | error | skipped
    error_class: str | None = None
    reason: str | None = None
    latency_ms: float = 0.0


@dataclass(frozen=True)
class ChatResult:
    """The router's answer; `rejected` means no allowed provider could answer."""

    text: str
    success: bool
    total_tokens: int
    cost_usd: float
    provider: str | None
    latency_ms: float
    rejected: bool
    error: str | None
    attempts: tuple[Attempt, ...] = ()


@dataclass(frozen=True)
class ProviderStatus:
    """A provider as `awoooi ai providers` shows it."""

    name: str
    kind: str
    model: str
    base_url: str
    local: bool
    breaker: BreakerState


@dataclass(frozen=True)
class RejectionSubject:
    """What a request was about, for the notice a rejection sends (never the prompt itself)."""

    title: str
    lines: tuple[str, ...] = ()
    link: str | None = None
    # The caller tells a human itself (in its own transaction, perhaps together with what
    # follows): the router's rejection hook stays silent.
    caller_notifies: bool = False
    # Where it happened, for notification routes that match a namespace or a service.
    namespace: str | None = None
    services: tuple[str, ...] = ()


RejectionHook = Callable[[Intent, tuple[Attempt, ...], RejectionSubject | None], Awaitable[None]]


def build_backend(config: ProviderConfig, *, local: bool) -> ChatBackend:
    """The HTTP backend for a provider config."""
    client = make_client(config, local=local)
    if config.kind == "ollama":
        return OllamaBackend(config, client)
    return OpenAICompatBackend(config, client)


def breaker_policy(settings: AISettings) -> BreakerPolicy:
    """When the providers' breakers open, and for how long."""
    return BreakerPolicy(settings.breaker_failures, settings.breaker_cooldown_seconds)


def rejection_text(intent: Intent, attempts: tuple[Attempt, ...]) -> tuple[str, str]:
    """Title and body of the rejection notice: each provider's reason, never the prompt."""
    scope = "local " if is_local_only(intent) else ""
    title = f"{intent.value.replace('_', ' ')} rejected: no {scope}model available"
    lines = [f"- {a.provider}: {a.reason or a.error_class or a.outcome}" for a in attempts]
    body = "Every provider in the chain failed:\n" + ("\n".join(lines) or "- (chain is empty)")
    return title, body


class Router:
    """Sends prompts to providers by intent policy, with deadlines, breakers and a ledger."""

    def __init__(
        self,
        settings: AISettings,
        *,
        backends: Mapping[str, ChatBackend] | None = None,
        ledger: CallLedger | None = None,
        on_reject: RejectionHook | None = None,
        clock: Callable[[], float] = time.monotonic,
        breakers: BreakerStore | None = None,
    ) -> None:
        """`breakers` holds the breaker states (default: this process's memory, on `clock`)."""
        self.settings = settings
        self._backends = (
            dict(backends)
            if backends is not None
            else {
                p.name: build_backend(p, local=settings.is_local(p.name))
                for p in settings.providers
            }
        )
        self._ledger = ledger
        self._on_reject = on_reject
        self._clock = clock
        self._breakers = (
            breakers
            if breakers is not None
            else MemoryBreakers(breaker_policy(settings), clock=clock)
        )
        # Each intent's chain with its locality, resolved once: chat() is on the hot path.
        self._plans = {
            intent: tuple((p, settings.is_local(p.name)) for p in settings.chain(intent))
            for intent in Intent
        }

    async def providers(self) -> list[ProviderStatus]:
        """Every configured provider with its locality and breaker state."""
        states = await self._breakers.states([p.name for p in self.settings.providers])
        return [
            ProviderStatus(
                name=p.name,
                kind=p.kind,
                model=p.model,
                base_url=p.base_url,
                local=self.settings.is_local(p.name),
                breaker=states[p.name],
            )
            for p in self.settings.providers
        ]

    async def chat(
        self,
        intent: Intent | str,
        prompt: str,
        *,
        system: str | None = None,
        task_type: str | None = None,
        subject: RejectionSubject | None = None,
    ) -> ChatResult:
        """Answer from the first provider in the intent's chain that can; never raises for them.
        A rejection notifies humans, naming `subject` when the caller gives one."""
        intent = Intent(intent)
        started = self._clock()
        attempts: list[Attempt] = []
        local_only = is_local_only(intent)
        for config, local in self._plans[intent]:
            if local_only and not local:
                # The config validator already refuses this; checked again so it can never pass.
                attempts.append(
                    Attempt(config.name, "skipped", "not_local", "not a local provider")
                )
                continue
            deadline = config.timeout_for(task_type or intent.value)
            if not await self._breakers.try_acquire(config.name, probe_seconds=deadline):
                attempts.append(Attempt(config.name, "skipped", "circuit_open", "circuit open"))
                await self._record(intent, config, local, "skipped", "circuit_open")
                continue
            messages = self._messages(prompt, system, redact_for_cloud=not local)
            result = await self._attempt(intent, config, local, messages, deadline)
            attempts.append(result[0])
            if result[1] is not None:
                reply_result = result[1]
                return ChatResult(
                    text=reply_result.text,
                    success=True,
                    total_tokens=reply_result.total_tokens,
                    cost_usd=reply_result.cost_usd,
                    provider=config.name,
                    latency_ms=self._elapsed_ms(started),
                    rejected=False,
                    error=None,
                    attempts=tuple(attempts),
                )
        return await self._reject(intent, tuple(attempts), started, subject)

    async def _attempt(
        self,
        intent: Intent,
        config: ProviderConfig,
        local: bool,
        messages: list[Message],
        deadline: float,
    ) -> tuple[Attempt, ChatResult | None]:
        started = self._clock()
        try:
            # A deadline on the whole call: a server that trickles bytes cannot stretch it.
            async with asyncio.timeout(deadline):
                reply = await self._backends[config.name].complete(messages)
        except TimeoutError:
            error_class, reason = "timeout", f"no answer within {deadline:g}s"
        except BackendError as exc:
            error_class, reason = exc.error_class, str(exc)[:300]
        except asyncio.CancelledError:
            await asyncio.shield(self._breakers.release(config.name))
            raise
        except Exception as exc:  # a backend bug must fall through like an outage (logged)
            log.exception("provider call crashed", provider=config.name)
            error_class, reason = "unexpected", type(exc).__name__
        else:
            latency = self._elapsed_ms(started)
            await self._breakers.record_success(config.name)
            cost = (
                reply.tokens_in * config.price_per_1k_input
                + reply.tokens_out * config.price_per_1k_output
            ) / 1000
            await self._record(
                intent,
                config,
                local,
                "success",
                None,
                reply.tokens_in,
                reply.tokens_out,
                cost,
                latency,
            )
            success = ChatResult(
                text=reply.text,
                success=True,
                total_tokens=reply.tokens_in + reply.tokens_out,
                cost_usd=cost,
                provider=config.name,
                latency_ms=latency,
                rejected=False,
                error=None,
            )
            return Attempt(config.name, "success", latency_ms=latency), success
        latency = self._elapsed_ms(started)
        await self._breakers.record_failure(config.name)
        log.warning(
            "provider failed", provider=config.name, intent=intent.value, error_class=error_class
        )
        await self._record(intent, config, local, "error", error_class, latency_ms=latency)
        return Attempt(config.name, "error", error_class, reason, latency), None

    async def _reject(
        self,
        intent: Intent,
        attempts: tuple[Attempt, ...],
        started: float,
        subject: RejectionSubject | None,
    ) -> ChatResult:
        title, _ = rejection_text(intent, attempts)
        if self._ledger is not None:
            await self._ledger.record(
                CallRecord(intent.value, "-", "-", True, 0, 0, 0.0, 0.0, "rejected", "rejected")
            )
        log.warning(
            "request rejected", intent=intent.value, providers=[a.provider for a in attempts]
        )
        if self._on_reject is not None and not (subject is not None and subject.caller_notifies):
            try:
                await self._on_reject(intent, attempts, subject)
            except Exception:  # the rejection itself must still reach the caller (logged)
                log.exception("could not send the rejection notice", intent=intent.value)
        return ChatResult(
            text="",
            success=False,
            total_tokens=0,
            cost_usd=0.0,
            provider=None,
            latency_ms=self._elapsed_ms(started),
            rejected=True,
            error=title
            + ": "
            + "; ".join(f"{a.provider}: {a.reason or a.error_class}" for a in attempts),
            attempts=attempts,
        )

    def _messages(
        self, prompt: str, system: str | None, *, redact_for_cloud: bool
    ) -> list[Message]:
        limit = self.settings.max_prompt_chars
        clean = redact if redact_for_cloud else (lambda text: text)
        messages = [Message("system", clean(system)[:limit])] if system else []
        messages.append(Message("user", clean(prompt)[:limit]))
        return messages

    async def _record(
        self,
        intent: Intent,
        config: ProviderConfig,
        local: bool,
        outcome: str,
        error_class: str | None,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost_usd: float = 0.0,
        latency_ms: float = 0.0,
    ) -> None:
        if self._ledger is None:
            return
        await self._ledger.record(
            CallRecord(
                intent=intent.value,
                provider=config.name,
                model=config.model,
                local=local,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost_usd=cost_usd,
                latency_ms=latency_ms,
                outcome=outcome,
                error_class=error_class,
            )
        )

    async def probe(self, name: str) -> tuple[bool, str]:
        """Check one provider (lists models, finds ours) within its default deadline."""
        config = self.settings.provider(name)
        try:
            async with asyncio.timeout(config.timeout_for("default")):
                return True, await self._backends[name].probe()
        except TimeoutError:
            return False, f"no answer within {config.timeout_for('default'):g}s"
        except BackendError as exc:
            return False, f"{exc.error_class}: {exc}"
        except (TypeError, ValueError, AttributeError) as exc:  # an odd answer ("data": 5)
            return False, f"unexpected answer: {type(exc).__name__}"

    def _elapsed_ms(self, started: float) -> float:
        return round((self._clock() - started) * 1000, 3)

    async def aclose(self) -> None:
        """Close every backend's connections."""
        for backend in self._backends.values():
            await backend.aclose()
