"""Oversight: watching how patient data is read and letting the lab see it.

Built on the security core (access, policy, audit, alerts) and on identities: the access watch run
on every audit batch (canaries, read budgets, unusual access), the refusal counts, the alert review,
the patient access log and the support grants. The platform registers the watch with the audit log
at start-up (platform.py); the core never imports this package.
"""
