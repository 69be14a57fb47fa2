"""Shared runtime: declarations, registry, settings, AWS clients, state log, notifications.

Nothing here imports handlers, templates or build code.
"""
