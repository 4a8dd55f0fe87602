"""Imports every model module so `Base.metadata` describes the whole schema (for Alembic)."""

from awoooi.ai import models as ai_models
from awoooi.core import models as core_models
from awoooi.core.db import Base
from awoooi.diagnosis import models as diagnosis_models
from awoooi.drift import models as drift_models
from awoooi.incidents import models as incident_models
from awoooi.knowledge import models as knowledge_models
from awoooi.notify import models as notify_models
from awoooi.repair import models as repair_models

metadata = Base.metadata

__all__ = [
    "ai_models",
    "core_models",
    "diagnosis_models",
    "drift_models",
    "incident_models",
    "knowledge_models",
    "metadata",
    "notify_models",
    "repair_models",
]
