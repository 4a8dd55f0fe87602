"""Expected failures of a diagnosis: bad input, not a bug (the CLI exits 2 on them)."""

from __future__ import annotations

from awoooi.core.errors import AwoooiError


class DiagnosisInputError(AwoooiError):
    """The alert, the cluster source or the target cannot be used."""

    status_code = 422
    code = "diagnosis_input"


class DumpError(DiagnosisInputError):
    """A cluster dump is missing, unreadable, too large, malformed or asked to leave its root."""

    code = "bad_dump"


class AlertError(DiagnosisInputError):
    """The alert payload is not an Alertmanager webhook nor a generic alert."""

    code = "bad_alert"


class TargetNotFound(DiagnosisInputError):
    """The alert's labels name nothing the cluster source holds."""

    status_code = 404
    code = "target_not_found"
