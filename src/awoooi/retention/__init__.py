"""Retention: old rows of jobs, incidents, notifications, LLM calls and drift reports pruned in
short batches."""
