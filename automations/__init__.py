"""Caretaker: infrastructure automations for AWS, run as Lambda functions."""
