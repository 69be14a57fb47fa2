"""CloudFormation custom resource providers (crhelper).

`automations` is imported first, on purpose: it puts the bytecode hook in and imports boto3 (see
there and docs/performance.md section 3).
"""

import automations  # noqa: F401
