"""Section titles, model instructions and the minimal templates used when the model fails."""

from __future__ import annotations

from typing import TYPE_CHECKING

from awoooi.knowledge.models import EntryType

if TYPE_CHECKING:
    from awoooi.incidents.models import Incident
    from awoooi.knowledge.harvest import RepairReport

RUNBOOK_SECTIONS = (
    "Symptoms",
    "Root cause",
    "Steps executed",
    "Verification",
    "Cautions",
    "Impact scope",
    "Related incidents",
    "Prevention next time",
    "When this applies",
)
ANTI_PATTERN_SECTIONS = (
    "Symptoms",
    "Fix tried",
    "Why it failed",
    "When not to apply it",
    "Alternatives",
)
_ZH_TW = {
    "Symptoms": "症狀",
    "Root cause": "根本原因",
    "Steps executed": "執行步驟",
    "Verification": "驗證",
    "Cautions": "注意事項",
    "Impact scope": "影響範圍",
    "Related incidents": "相關事件",
    "Prevention next time": "下次預防",
    "When this applies": "適用條件",
    "Fix tried": "嘗試的修復",
    "Why it failed": "失敗原因",
    "When not to apply it": "不適用條件",
    "Alternatives": "替代方案",
    "unknown": "未知",
    "none": "無",
}
_LANGUAGE_NAMES = {"en": "English", "zh-TW": "Traditional Chinese (zh-TW)"}


def _t(text: str, language: str) -> str:
    return _ZH_TW.get(text, text) if language == "zh-TW" else text


def system_prompt(entry_type: EntryType, language: str) -> str:
    """Instructions for the model: facts in, Markdown with fixed sections out, no commands."""
    what = "a runbook" if entry_type is EntryType.AUTO_RUNBOOK else "an anti-pattern note"
    return (
        f"You write {what} for SREs from the facts of one automatic repair. Answer in "
        f"{_LANGUAGE_NAMES.get(language, 'English')}, as Markdown, with exactly the requested "
        "sections as '## ' headings. State only what the facts support; say 'unknown' "
        "otherwise. Do not invent commands: the steps are the ones executed."
    )


def _steps(report: RepairReport, language: str) -> str:
    if not report.steps:
        return "- " + _t("none", language)
    return "\n".join(
        f"{index}. `{step.action}` — {'ok' if step.success else 'FAILED'} "
        f"({step.duration_ms} ms){': ' + step.error if step.error else ''}"
        for index, step in enumerate(report.steps, 1)
    )


def _symptoms(report: RepairReport, incident: Incident | None) -> str:
    if incident is None:
        return f"Incident {report.incident_id}; symptoms hash `{report.symptoms_hash}`."
    signature = incident.symptoms.get("error_signature") or incident.title
    services = ", ".join(incident.affected_services) or "-"
    return (
        f"{incident.title} ({incident.severity}). Signal `{incident.symptoms.get('signal')}`, "
        f"services {services}, namespace {incident.namespace or '-'}; "
        f"signature: {signature}; symptoms hash `{report.symptoms_hash}`."
    )


def runbook_template(report: RepairReport, incident: Incident | None, language: str) -> str:
    """The 9-section runbook from facts alone."""
    unknown = _t("unknown", language)
    body = {
        "Symptoms": _symptoms(report, incident),
        "Root cause": unknown,
        "Steps executed": _steps(report, language),
        "Verification": f"Playbook `{report.playbook_id}` reported success "
        f"after {report.execution_ms} ms.",
        "Cautions": unknown,
        "Impact scope": ", ".join(incident.affected_services) if incident else unknown,
        "Related incidents": report.incident_id,
        "Prevention next time": unknown,
        "When this applies": f"Alerts with symptoms hash `{report.symptoms_hash}`.",
    }
    return "\n\n".join(f"## {_t(title, language)}\n{body[title]}" for title in RUNBOOK_SECTIONS)


def anti_pattern_template(report: RepairReport, incident: Incident | None, language: str) -> str:
    """The 5-section anti-pattern from facts alone."""
    body = {
        "Symptoms": _symptoms(report, incident),
        "Fix tried": f"Playbook `{report.playbook_id}` ({report.playbook_name}):\n"
        + _steps(report, language),
        "Why it failed": report.error or _t("unknown", language),
        "When not to apply it": f"Alerts with symptoms hash `{report.symptoms_hash}`.",
        "Alternatives": _t("unknown", language),
    }
    return "\n\n".join(
        f"## {_t(title, language)}\n{body[title]}" for title in ANTI_PATTERN_SECTIONS
    )
