"""Caretaker: infrastructure automations for AWS, run as Lambda functions.

In Lambda, our modules' bytecode comes from the bytecode layer (see `automations.bytecode`); the
hook goes in before any other module of ours is imported.
"""

from automations.bytecode import install_from_environment

install_from_environment()
