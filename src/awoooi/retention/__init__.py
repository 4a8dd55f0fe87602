"""Retention: old rows of jobs, incidents, notifications and LLM calls pruned in short batches."""
