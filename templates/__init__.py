"""CloudFormation templates (troposphere), derived from the function declarations in the registry.

Templates import declarations (`automations.core.spec`, `registry`, `state_schema`), never handler
internals; handlers never import troposphere.
"""
