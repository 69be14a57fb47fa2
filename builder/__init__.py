"""The build: artifacts, templates, manifest and lint (`builder.pipeline.build`), and deploy (`builder.deploy`).

Build code runs on the developer's machine or in CI, never inside Lambda.
"""

from builder.errors import BuildError, DeployError

__all__ = ["BuildError", "DeployError"]
