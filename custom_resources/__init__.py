"""CloudFormation custom resource providers (crhelper).

In Lambda, our modules' bytecode comes from the bytecode layer (see `automations.bytecode`).
"""

from automations.bytecode import install_from_environment

install_from_environment()
