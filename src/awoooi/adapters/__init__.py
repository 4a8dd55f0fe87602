"""Adapters to external systems (Kubernetes, Git): the only modules that talk to them."""
