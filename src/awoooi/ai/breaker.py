"""Per-provider circuit breaker: N consecutive failures open it for a cooldown, then one probe."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class BreakerState(StrEnum):
    """Closed: calls pass. Open: calls skip. Half-open: one probe call decides."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    """Breaker state for one provider, in this process."""

    failure_threshold: int
    cooldown_seconds: float
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker past its cooldown is half-open)."""
        if self.opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - self.opened_at >= self.cooldown_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def try_acquire(self) -> bool:
        """Whether a call may go through now; in half-open, only one probe at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self.probing:
            self.probing = True
            return True
        return False

    def record_success(self) -> None:
        """A call succeeded: close."""
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def record_failure(self) -> None:
        """A call failed: count it; open (again) at the threshold or after a failed probe."""
        self.failures += 1
        if self.probing or self.failures >= self.failure_threshold:
            self.opened_at = self.clock()
        self.probing = False

    def release(self) -> None:
        """A call ended without an outcome (cancelled): let another probe try."""
        self.probing = False
