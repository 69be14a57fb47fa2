"""Secrets Manager rotation functions: the four-step protocol (`protocol`) and one module per flavour."""
