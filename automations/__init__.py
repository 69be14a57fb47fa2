"""Caretaker: infrastructure automations for AWS, run as Lambda functions.

Two things happen here, before any other module of ours is imported, on purpose (cold start; see
docs/performance.md section 3):

- In Lambda, our modules' bytecode comes from the bytecode layer: `automations.bytecode` puts its
  path hook in.
- boto3 is imported, on a thread of its own. Every handler needs it, and its import-time work
  (botocore and urllib3 compile dozens of regular expressions through deep call chains) runs 5-10x
  slower when those calls sit on a boundary of CPython's data-stack chunks, which depends on the
  stack depth the import starts at: 15-40 ms more per cold start, measured, for a different set of
  handlers with each Python version and each import order (and Lambda's runtime adds frames of its
  own). A new thread starts with an empty stack, so that work runs at the same depth every time,
  the depth of a plain `import boto3`.
"""

import importlib
import threading

from automations.bytecode import install_from_environment

install_from_environment()


def _import_on_a_fresh_stack(module: str) -> None:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            importlib.import_module(module)
        except BaseException as error:  # re-raised below, in the importing thread
            failures.append(error)

    thread = threading.Thread(target=run, name=f"import-{module}")
    thread.start()
    thread.join()
    if failures:
        raise failures[0]


_import_on_a_fresh_stack("boto3")
