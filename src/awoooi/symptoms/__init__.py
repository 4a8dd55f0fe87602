"""Symptom fingerprints: message normalization, patterns and their stable hash."""

from awoooi.symptoms.mapping import SymptomSettings, pattern_from_alert
from awoooi.symptoms.normalize import normalize_message
from awoooi.symptoms.pattern import SymptomPattern

__all__ = ["SymptomPattern", "SymptomSettings", "normalize_message", "pattern_from_alert"]
