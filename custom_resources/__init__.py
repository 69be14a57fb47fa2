"""CloudFormation custom resource providers (crhelper)."""
