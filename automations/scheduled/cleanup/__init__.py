"""The machinery the cleanup families share: the model (`model.py`), the two-phase flow (`flow.py`), its
steps and executor (`steps.py`), the notification (`notice.py`), settings and permissions (`settings.py`),
reference indexes (`references.py`) and the EC2 helpers (`ec2.py`). The families themselves (one handler and
one spec each) are `automations/scheduled/cleanup_<family>.py`; see docs/cleanup.md.
"""
