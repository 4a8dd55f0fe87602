"""Drift: Git desired state versus the live cluster."""
