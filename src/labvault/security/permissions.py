"""The role → permission table. Platform operators manage labs and accounts, never patient data.

This table says what each role may do at all; :mod:`labvault.security.policy` builds on it and
adds the rest of every decision on patient data (lab, relationship, sensitivity, purpose,
break-the-glass). :func:`~labvault.security.policy.require` and ``require_lab`` (the policy) ask it.
"""

from __future__ import annotations

from enum import StrEnum

from labvault.security.access import Role


class Permission(StrEnum):
    PATIENT_READ = "patient.read"
    PATIENT_WRITE = "patient.write"
    PHYSICIAN_READ = "physician.read"
    PHYSICIAN_WRITE = "physician.write"
    LAB_MANAGE = "lab.manage"
    LAB_USERS_MANAGE = "lab.users.manage"
    PLATFORM_USERS_MANAGE = "platform.users.manage"
    KEYS_MANAGE = "keys.manage"
    AUDIT_READ = "audit.read"
    CATALOG_MANAGE = "catalog.manage"
    ORDER_READ = "order.read"
    ORDER_WRITE = "order.write"
    SPECIMEN_HANDLE = "specimen.handle"
    RESULT_READ = "result.read"
    RESULT_ENTER = "result.enter"
    RESULT_TECH_VALIDATE = "result.validate.technical"
    RESULT_BIO_VALIDATE = "result.validate.biological"
    CRITICAL_CALL = "result.critical.call"
    RESTRICTED_READ = "result.restricted.read"
    REPORT_RELEASE = "report.release"
    REPORT_READ = "report.read"
    ACCESS_LOG_READ = "patient.access_log.read"  # who accessed a patient's record
    SUPPORT_GRANT_MANAGE = "support.grant.manage"  # let the platform operator in, for a while
    ALERTS_READ = "alerts.read"  # the lab's security alerts (ids and counts only)
    ALERTS_ACK = "alerts.acknowledge"
    CANARIES_MANAGE = "canaries.manage"  # plant and list canary patients
    INTERFACE_MESSAGES_READ = "interface.messages.read"  # what the lab's interfaces sent, dead letters
    INTERFACES_MANAGE = "interfaces.manage"  # where released results go (receivers)
    OUTBOX_DELIVER = "outbox.deliver"  # a receiver's interface: take its waiting messages out
    WORKLIST_QUERY = "worklist.query"  # an analyzer's host query: the tests still to run on one tube
    INCIDENTS_MANAGE = "incidents.manage"  # breach response: incidents, affected patients, drafts
    QC_READ = "qc.read"  # analyzer QC: control lots, QC results, Levey-Jennings series
    QC_ENTER = "qc.enter"  # a QC result in (an analyzer's channel, or typed for a manual one)
    QC_MANAGE = "qc.manage"  # declare control lots and their targets
    QC_DECIDE = "qc.decide"  # decide on a Westgard rejection, which releases its hold


_STAFF = {Permission.PATIENT_READ, Permission.PHYSICIAN_READ}
# Reception registers prescriptions and tubes and hands out released reports; it never reads a
# result outside a report. Technicians run the analyses; biologists validate and sign, and are the
# only role that sees restricted results (HIV, hepatitis, syphilis, pregnancy) without breaking the glass.
_RECEPTION_WORK = {
    Permission.ORDER_READ,
    Permission.ORDER_WRITE,
    Permission.SPECIMEN_HANDLE,
    Permission.REPORT_READ,
}
_BENCH_WORK = {
    Permission.ORDER_READ,
    Permission.SPECIMEN_HANDLE,
    Permission.RESULT_READ,
    Permission.RESULT_ENTER,
    Permission.RESULT_TECH_VALIDATE,
    Permission.CRITICAL_CALL,
}
_MEDICAL_WORK = {
    Permission.RESULT_BIO_VALIDATE,
    Permission.RESTRICTED_READ,
    Permission.REPORT_RELEASE,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.RECEPTION: frozenset(
        _STAFF | _RECEPTION_WORK | {Permission.PATIENT_WRITE, Permission.PHYSICIAN_WRITE}
    ),
    Role.TECHNICIAN: frozenset(_STAFF | _BENCH_WORK),
    Role.BIOLOGIST: frozenset(
        _STAFF
        | _RECEPTION_WORK
        | _BENCH_WORK
        | _MEDICAL_WORK
        | {Permission.PATIENT_WRITE, Permission.PHYSICIAN_WRITE, Permission.CATALOG_MANAGE}
        | {Permission.ACCESS_LOG_READ}
    ),
    Role.LAB_ADMIN: frozenset(
        _STAFF
        | {Permission.PATIENT_WRITE, Permission.PHYSICIAN_WRITE, Permission.LAB_USERS_MANAGE}
        | {Permission.KEYS_MANAGE, Permission.AUDIT_READ, Permission.CATALOG_MANAGE}
        | {Permission.ACCESS_LOG_READ, Permission.SUPPORT_GRANT_MANAGE}
        | {Permission.ALERTS_READ, Permission.ALERTS_ACK, Permission.CANARIES_MANAGE}  # security officer
        | {Permission.INTERFACE_MESSAGES_READ, Permission.INTERFACES_MANAGE}  # connections: outcomes only
        | {Permission.INCIDENTS_MANAGE}  # breach response, as the lab's security officer
    ),
    Role.PLATFORM_OPERATOR: frozenset(
        {Permission.LAB_MANAGE, Permission.LAB_USERS_MANAGE, Permission.PLATFORM_USERS_MANAGE}
        | {Permission.KEYS_MANAGE, Permission.AUDIT_READ, Permission.CATALOG_MANAGE}
    ),
    # The policy lets a prescriber use these only on the orders they prescribed (the services
    # decide each order; identities only of patients with at least one such order). Never a write.
    Role.PRESCRIBER: frozenset(
        {Permission.PATIENT_READ, Permission.ORDER_READ, Permission.RESULT_READ, Permission.REPORT_READ}
        | {Permission.RESTRICTED_READ}
    ),
    # Troubleshooting under a lab admin's grant: identities, physicians and orders (statuses, tubes),
    # read-only; never result values, reports or restricted tests.
    Role.SUPPORT: frozenset({Permission.PATIENT_READ, Permission.PHYSICIAN_READ, Permission.ORDER_READ}),
    # An analyzer's or a hospital system's connection: results in; out, only the messages waiting
    # for it as a receiver (interop/outbox.py), never a read of the lab's data.
    Role.INTERFACE: frozenset(
        {Permission.RESULT_ENTER, Permission.OUTBOX_DELIVER}
        # and the tests still to run on the tube it holds, asked by barcode (interop/worklist_query.py)
        | {Permission.WORKLIST_QUERY}
        # Orders in (HL7 OML^O21/ORM^O01), with the pending identities of patients no one matched:
        # the policy allows both only to an interface a lab admin marked an order sender.
        | {Permission.ORDER_WRITE, Permission.PATIENT_WRITE}
    ),
}

# Analyzer quality control (qc/): no patient data, so decided by this table alone. Staff who run
# and validate analyses read the QC and may type one in; biologists (and lab admins) declare
# control lots; only a biologist decides on a rejection; an analyzer's channel enters its QC.
_QC_ROLES: dict[Role, frozenset[Permission]] = {
    Role.TECHNICIAN: frozenset({Permission.QC_READ, Permission.QC_ENTER}),
    Role.BIOLOGIST: frozenset(
        {Permission.QC_READ, Permission.QC_ENTER, Permission.QC_MANAGE, Permission.QC_DECIDE}
    ),
    Role.LAB_ADMIN: frozenset({Permission.QC_READ, Permission.QC_MANAGE}),
    Role.INTERFACE: frozenset({Permission.QC_ENTER}),
}
for _role, _qc in _QC_ROLES.items():
    ROLE_PERMISSIONS[_role] = ROLE_PERMISSIONS[_role] | _qc


def allows(role: Role, permission: Permission) -> bool:
    """The table alone: whether ``role`` may do this at all (the policy's first question)."""
    return permission in ROLE_PERMISSIONS[role]
