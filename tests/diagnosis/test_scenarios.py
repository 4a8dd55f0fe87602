"""The shared diagnosis scenarios, in process (skipped when `../shared` is not there):
target, top-1 cause, evidence recall and no secret in evidence or prompt, case by case."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from awoooi.diagnosis.alert import load_alert
from awoooi.diagnosis.prompt import build_prompt
from awoooi.diagnosis.service import investigate
from awoooi.diagnosis.source import DumpSource

CASES = Path(
    os.environ.get(
        "AWOOOI_DIAGNOSIS_CASES",
        Path(__file__).resolve().parents[3] / "shared" / "scenarios" / "diagnosis" / "cases",
    )
)
FOUND = (
    sorted(p for p in CASES.glob("*") if (p / "expect.json").is_file()) if CASES.is_dir() else []
)


@pytest.mark.skipif(not FOUND, reason=f"no diagnosis scenarios at {CASES}")
@pytest.mark.parametrize("case", FOUND, ids=[p.name for p in FOUND])
async def test_scenario(case: Path) -> None:
    expect = json.loads((case / "expect.json").read_text())
    alert = load_alert((case / "alert.json").read_text())

    inv = await investigate(DumpSource(case / "cluster"), alert.labels, at=alert.starts_at)
    prompt = build_prompt(inv, alert.describe())

    assert inv.target.to_json() == {
        **expect["target"],
        "namespace": expect["target"].get("namespace") or "",
    }
    assert inv.findings[0].cause.value in [expect["cause"], *expect.get("also_accept", [])], (
        inv.findings
    )
    evidence = "\n".join(e.text for e in inv.evidence).lower()
    for wanted in expect["evidence"]:
        assert wanted.lower() in evidence
        assert wanted.lower() in prompt.text.lower()
    shown = "\n".join(e.text for e in inv.evidence) + prompt.text
    for secret in expect.get("secrets", []):
        assert secret not in shown
