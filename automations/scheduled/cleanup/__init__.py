"""The machinery the cleanup families share: the model and the `Family` base (`model.py`), the two-phase flow
(`flow.py`, its steps on the core executor: `automations/core/steps.py`), the notification (`notice.py`),
settings and permissions (`settings.py`), reference indexes (`references.py`), the EC2 helpers (`ec2.py`) and
final snapshots (`final_snapshot.py`). The families themselves (one spec and one `Family` subclass each) are
`automations/scheduled/cleanup_<family>.py`; see docs/cleanup.md.
"""
