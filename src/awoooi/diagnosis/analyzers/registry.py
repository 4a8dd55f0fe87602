"""The analyzer registry: small deterministic rules over the facts, each yielding findings."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from awoooi.diagnosis.facts import Facts
from awoooi.diagnosis.model import Cause, Finding

Analyzer = Callable[[Facts], Iterable[Finding]]
# Below this, a finding is a guess: UNKNOWN is the honest answer, the guesses follow it.
WEAK = 0.5

# (name, rule) in registration order; the order breaks ties between equally sure findings.
ANALYZERS: list[tuple[str, Analyzer]] = []


def register(name: str) -> Callable[[Analyzer], Analyzer]:
    """Add a rule to the registry under a name (a module registers its rules on import)."""

    def add(rule: Analyzer) -> Analyzer:
        """Append the rule (names are unique)."""
        if any(existing == name for existing, _ in ANALYZERS):
            raise ValueError(f"analyzer {name!r} is registered twice")
        ANALYZERS.append((name, rule))
        return rule

    return add


def rank(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per cause (the surest, citing every rule's evidence), most likely first."""
    best: dict[Cause, Finding] = {}
    cited: dict[Cause, list[str]] = {}
    for finding in findings:
        ids = cited.setdefault(finding.cause, [])
        ids.extend(e for e in finding.evidence if e not in ids)
        current = best.get(finding.cause)
        if current is None or finding.confidence > current.confidence:
            best[finding.cause] = finding
    merged = [
        Finding(
            f.cause, f.summary, round(min(max(f.confidence, 0.0), 1.0), 2), tuple(cited[f.cause])
        )
        for f in best.values()
    ]
    return sorted(merged, key=lambda f: -f.confidence)


def run(facts: Facts, analyzers: Sequence[tuple[str, Analyzer]]) -> list[Finding]:
    """Every rule's findings, ranked; UNKNOWN first when none explains the alert with confidence."""
    found = [
        replace(f, summary=facts.scrub(f.summary))
        for f in rank(finding for _, rule in analyzers for finding in rule(facts))
    ]
    if found and found[0].confidence >= WEAK:
        return found
    cited = tuple(
        dict.fromkeys(
            ([facts.workload.evidence] if facts.workload else [])
            + [p.evidence for p in facts.pods[:3]]
            + [j.evidence for j in facts.jobs[:1]]
            + [n.evidence for n in facts.nodes[:1] if facts.target.kind == "Node"]
        )
    )
    state = (
        "shows no failing pod, event or condition now"
        if not found
        else ("shows only weak or past signs of trouble")
    )
    unknown = Finding(
        Cause.UNKNOWN,
        f"nothing in the collected evidence explains the alert: {facts.target} {state}",
        WEAK,
        cited,
    )
    return [unknown, *found]
