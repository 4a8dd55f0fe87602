"""Evidence-grounded diagnosis: code collects the facts, rules name the cause, a local model
explains (see `service.investigate` and `service.diagnose`)."""
