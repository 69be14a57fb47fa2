"""Scheduled automations: cleanup, snapshots, credential rotation."""
