"""Shared runtime: declarations, registry, settings, AWS clients, state log, notifications.

Nothing here imports handlers, templates or build code. (boto3 is imported by the `automations`
package, before this one, on purpose: see there.)
"""
