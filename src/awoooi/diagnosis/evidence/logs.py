"""Log tails of the failing containers: the current run and the one before, bounded in lines and
bytes, scrubbed line by line (a line with a secret is never kept verbatim)."""

from __future__ import annotations

import re

from awoooi.diagnosis.evidence.base import Collection
from awoooi.diagnosis.evidence.book import MAX_LOG_TEXT, clip
from awoooi.diagnosis.facts import ContainerFact, LogFact, PodFact

SOURCE = "logs"
MAX_PODS = 3
MAX_CONTAINERS = 2
READ_LINES = 400
READ_BYTES = 96_000
TAIL_SHOWN = 30
NOTABLE_SHOWN = 12
LINE_SHOWN = 600
# Words that make a line worth showing even when it is older than the shown tail.
NOTABLE = re.compile(
    r"(?i)\b(error|err|exception|fatal|panic|fail(ed|ure|ing)?|refused|time[d ]?out|unable"
    r"|cannot|can't|could not|denied|unauthori[sz]ed|forbidden|not found|no such|killed|oom"
    r"|out of memory|traceback|caused by|unhandled|uncaught|segmentation|abort(ed)?|crit(ical)?"
    r"|unreachable|unavailable|reset by peer|exit(ed|ing)?)\b"
    r"|\"level\":\s*(50|60)|level=(error|fatal|crit)"
)


def _wanted_containers(pod: PodFact, alert_container: str | None) -> list[ContainerFact]:
    started = [
        c for c in pod.containers if c.started or c.restarts or c.state in {"terminated", "running"}
    ]
    failing = [c for c in started if c.failing]
    chosen = [c for c in started if c.name == alert_container]
    for c in failing + ([] if failing else started):
        if c not in chosen:
            chosen.append(c)
    return chosen[:MAX_CONTAINERS]


def render(pod: str, container: str, previous: bool, lines: list[str]) -> str:
    """The log evidence text: notable older lines, then the newest lines within the size limit."""
    run = "previous run" if previous else "current run"
    head = f"log of pod {pod} container {container} ({run}, {len(lines)} lines read)"
    if not lines:
        return head + ": empty"
    budget = MAX_LOG_TEXT - len(head) - 40
    tail: list[str] = []
    for line in reversed(lines[-TAIL_SHOWN:]):
        shown = clip(line, LINE_SHOWN)
        if len(shown) + 1 > budget:
            break
        tail.insert(0, shown)
        budget -= len(shown) + 1
    older_lines = lines[: len(lines) - len(tail)]
    older: list[str] = []
    for line in reversed([x for x in older_lines if NOTABLE.search(x)][-NOTABLE_SHOWN:]):
        shown = clip(line, LINE_SHOWN)
        if len(shown) + 1 > budget:
            break
        older.insert(0, shown)
        budget -= len(shown) + 1
    parts = [head + ":", *older]
    if len(older) + len(tail) < len(lines):
        parts.append("…")
    parts.extend(tail)
    return "\n".join(parts)


async def collect(c: Collection) -> None:
    """Read and describe the logs of the alerted pod and of the target's failing pods."""
    pods = list(c.facts.focus_pods())
    pods += [p for p in c.facts.pods if not p.healthy and p not in pods]
    for pod in [p for p in pods if p.node][:MAX_PODS]:
        for container in _wanted_containers(pod, c.facts.alert_container):
            runs = [False] + ([True] if container.restarts or container.last_reason else [])
            for previous in runs:
                text = await c.source.read_log(
                    pod.namespace,
                    pod.name,
                    container.name,
                    previous=previous,
                    max_lines=READ_LINES,
                    max_bytes=READ_BYTES,
                )
                if text is None:
                    continue
                lines = [c.book.scrub(line, log=True) for line in text.splitlines()]
                evidence = c.book.add(
                    SOURCE, render(pod.name, container.name, previous, lines), log=True
                )
                c.facts.logs.append(LogFact(evidence, pod.name, container.name, previous, lines))
