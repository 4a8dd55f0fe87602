"""Auto-repair: playbooks, the fixed action catalog, safety gates, execution."""
