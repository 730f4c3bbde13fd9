"""Canary promotion: stage weights, live metrics per arm, a statistical judge, automatic rollback."""
