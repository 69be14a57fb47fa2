"""Shared runtime: declarations, registry, settings, AWS clients, state log, notifications.

Nothing here imports handlers, templates or build code.

boto3 is imported first, here, on purpose (cold start; see docs/performance.md). Every handler
needs it, and importing it before anything of ours keeps its import-time work (botocore and
urllib3 compile dozens of regular expressions) at a shallow, stable call depth. Imported deep
inside our own module chain, that work could land where each Python call crosses CPython's
data-stack chunk boundary, and then ran 5-10x slower: 20-40 ms more per cold start for some
handlers.
"""

import boto3  # noqa: F401
