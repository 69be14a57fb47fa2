"""Reactive security automations on CloudTrail events."""
