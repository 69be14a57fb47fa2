"""The operator CLI (`python -m automations`). Runs on an operator's machine, never inside Lambda:
the code artifact leaves this package out."""
