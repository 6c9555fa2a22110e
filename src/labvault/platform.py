"""Wires settings, database, keys and services together: one object the web app and CLI share.

:class:`Platform` is the registry of every service: routes and commands take theirs from it and
never build one, so that each is wired once (its database, keys, clock and policy) and a new
channel finds them all in one place."""

from __future__ import annotations

from dataclasses import dataclass

from labvault.catalog.service import CatalogService
from labvault.config import Settings
from labvault.crypto.key_provider import FileKeyProvider, paths_overlap
from labvault.errors import ConfigurationError
from labvault.governance.breach import BreachChecker
from labvault.governance.incidents import IncidentService
from labvault.identity.account_actions import AccountActionService
from labvault.identity.account_service import AccountService
from labvault.identity.auth_policy import AuthPolicy
from labvault.identity.lab_service import LabService, lab_code_of
from labvault.identity.patient_service import PatientService
from labvault.identity.physician_service import PhysicianService
from labvault.identity.security_keys import SecurityKeyService
from labvault.interop.certificates import InterfaceCertificates
from labvault.interop.hl7v2.inbox import Hl7Inbox
from labvault.interop.hprim import HprimExport
from labvault.interop.instrument_codes import InstrumentCodeService
from labvault.interop.intake import Intake
from labvault.interop.messages import InterfaceMessageService
from labvault.interop.order_intake import OrderIntake
from labvault.interop.outbox import Outbox
from labvault.interop.worklist_query import WorklistQuery
from labvault.keys.reencrypt import ReEncryptor
from labvault.keys.store import KeyStore
from labvault.oversight.access_log import AccessLogService
from labvault.oversight.access_watch import watch
from labvault.oversight.alert_service import AlertService
from labvault.oversight.canaries import CanaryService, use_key_store
from labvault.oversight.refusals import RefusalService
from labvault.oversight.support_grants import SupportGrantService
from labvault.qc.service import QcService
from labvault.schema import upgrade
from labvault.security.audit import register_watch
from labvault.security.audit_verifier import AuditVerifier
from labvault.security.monitor import install as install_monitor
from labvault.security.rate_limit import ORIGIN_KEY_PURPOSE, LoginRateLimit
from labvault.security.signed_checkpoint import KEY_NAME, NoteSigner
from labvault.security.webauthn_factor import RelyingParty
from labvault.store.database import Database
from labvault.store.engine import PoolSize, sqlite_file
from labvault.store.pg_rls import app_role_of
from labvault.workflow.break_glass import BreakGlassService
from labvault.workflow.item_lookup import ItemLookup
from labvault.workflow.orders import OrderService
from labvault.workflow.pending_identities import PendingIdentityService
from labvault.workflow.prescribed_patients import PrescribedThroughOrders
from labvault.workflow.report_service import ReportService
from labvault.workflow.results import ResultService
from labvault.workflow.specimens import SpecimenService

# The Ed25519 key that signs audit checkpoints: derived from the root key, never stored.
CHECKPOINT_SIGNING_PURPOSE = "audit-checkpoint-ed25519"


@dataclass
class Platform:
    settings: Settings
    db: Database
    keys: KeyStore
    labs: LabService
    accounts: AccountService
    security_keys: SecurityKeyService
    patients: PatientService
    physicians: PhysicianService
    catalogs: CatalogService
    orders: OrderService
    specimens: SpecimenService
    results: ResultService
    reports: ReportService
    items: ItemLookup
    audit: AuditVerifier
    reencryptor: ReEncryptor
    break_glass: BreakGlassService
    support: SupportGrantService
    access_log: AccessLogService
    account_actions: AccountActionService
    alerts: AlertService
    canaries: CanaryService
    refusals: RefusalService
    breach: BreachChecker
    login_limit: LoginRateLimit  # the password-taking routes' per-origin limit, in the database
    intake: Intake  # what every inbound channel shares: senders, results in, message records (interop/)
    hl7_inbox: Hl7Inbox  # interface accounts' HL7 v2 messages
    interface_messages: InterfaceMessageService  # what they sent: outcomes and dead letters
    instrument_codes: InstrumentCodeService  # each interface's own test codes -> the catalogue
    outbox: Outbox  # released results out to the lab's receivers (HL7 v2 ORU^R01)
    hprim: HprimExport  # a released report as an HPRIM file, encrypted to a doctor's age key
    order_intake: OrderIntake  # orders in from order-sender interfaces (HL7 OML^O21 / ORM^O01)
    pending_identities: PendingIdentityService  # patients those created, for reception to confirm
    incidents: IncidentService  # breach response: incident records, affected patients, drafts
    qc: QcService  # analyzer QC: control lots, QC results, Westgard decisions, Levey-Jennings series

    @property
    def certificates(self) -> InterfaceCertificates:
        """Interface accounts' pinned TLS client certificates (interop/certificates.py)."""
        return InterfaceCertificates(self.db)

    @property
    def worklist_query(self) -> WorklistQuery:
        """An analyzer's host query: the tests still to run on one tube (interop/worklist_query.py)."""
        return WorklistQuery(self.db, self.keys, self.catalogs)

    def close(self) -> None:
        self.keys.forget()
        self.db.dispose()


def check_layout(settings: Settings) -> None:
    """Keys and signed checkpoints never travel with the data: the key and checkpoint directories
    must not overlap the data directory, nor the directory holding an SQLite database file (a copy
    of that directory would carry the database and the key that opens it)."""
    key_dir, checkpoints = settings.key_dir, settings.resolved_checkpoint_dir()
    if paths_overlap(key_dir, settings.data_dir):
        raise ConfigurationError("the key directory must not be inside the data directory (or contain it)")
    if paths_overlap(checkpoints, settings.data_dir):
        raise ConfigurationError("the audit checkpoint directory must not be inside the data directory")
    database = sqlite_file(settings.resolved_database_url())
    if database is None:
        return
    for name, directory in (("key directory", key_dir), ("audit checkpoint directory", checkpoints)):
        if directory.resolve() in database.resolve().parents:
            raise ConfigurationError(
                f"the SQLite database file {database} must not be inside the {name} {directory}"
            )
        if paths_overlap(directory, database.parent):
            raise ConfigurationError(
                f"the {name} {directory} must not be inside the directory holding the SQLite "
                f"database file {database}: a copy of that directory would carry both"
            )


def initialise(settings: Settings) -> bool:
    """Create directories, the root key and the schema. Returns True if a new root key was made."""
    check_layout(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    created = FileKeyProvider.initialise(settings.key_dir, settings.data_dir)
    upgrade(settings.resolved_database_url(), app_role=app_role_of(settings.database_app_url))
    return created


def open_platform(settings: Settings) -> Platform:
    """Open an initialised platform (``labvault init`` first)."""
    check_layout(settings)
    provider = FileKeyProvider(settings.key_dir)
    db = Database(
        settings.resolved_database_url(),
        app_url=settings.database_app_url,
        pool=PoolSize(settings.database_pool_size, settings.database_max_overflow),
        owner_pool=PoolSize(settings.database_owner_pool_size, settings.database_owner_max_overflow),
    )
    # Read budgets, off-hours and origin alerts, the alert webhook (which names labs by code).
    install_monitor(db, settings, lab_code=lab_code_of)
    register_watch(db, watch)  # every audit batch: canaries, read budgets, unusual access
    keys = KeyStore(provider)
    use_key_store(db, keys)  # the canary check's keys when a transaction has not loaded them
    catalogs = CatalogService(db)
    signer = NoteSigner.from_seed(KEY_NAME, provider.derive(CHECKPOINT_SIGNING_PURPOSE))
    verifier = AuditVerifier(db, settings.resolved_checkpoint_dir(), signer)
    auth_policy = AuthPolicy.from_settings(settings)
    accounts = AccountService(db, keys, auth_policy)
    patients = PatientService(db, keys, PrescribedThroughOrders())
    catalog_items = ItemLookup(db, keys, catalogs)
    results = ResultService(db, keys, catalogs)
    intake = Intake(db, keys, catalogs, accounts, catalog_items, results)
    reports = ReportService(db, keys, catalogs)
    outbox = Outbox(db, keys, catalogs)
    reports.released.append(outbox.enqueue)  # in the release's transaction: durable
    orders = OrderService(db, keys, catalogs)
    order_intake = OrderIntake(db, keys, intake, orders)
    relying_party = RelyingParty(settings.webauthn_rp_id, settings.webauthn_rp_name, settings.webauthn_origin)
    return Platform(
        settings=settings,
        db=db,
        keys=keys,
        labs=LabService(db, keys),
        accounts=accounts,
        security_keys=SecurityKeyService(db, accounts, relying_party),
        patients=patients,
        physicians=PhysicianService(db, keys),
        catalogs=catalogs,
        orders=orders,
        specimens=SpecimenService(db, keys, catalogs),
        results=results,
        reports=reports,
        items=catalog_items,
        audit=verifier,
        reencryptor=ReEncryptor(db, keys),
        break_glass=BreakGlassService(db, keys, auth_policy.reauth_max_age),
        support=SupportGrantService(db, keys, auth_policy.reauth_max_age),
        access_log=AccessLogService(db, keys),
        account_actions=AccountActionService(db, accounts.clock),
        alerts=AlertService(db),
        canaries=CanaryService(db, patients),
        refusals=RefusalService(db, settings),
        breach=BreachChecker(db, keys),
        login_limit=LoginRateLimit(
            db,
            provider.derive(ORIGIN_KEY_PURPOSE),
            settings.login_rate_limit,
            settings.login_rate_window_seconds,
        ),
        intake=intake,
        hl7_inbox=Hl7Inbox(intake, order_intake),
        interface_messages=InterfaceMessageService(db),
        instrument_codes=InstrumentCodeService(db, catalogs),
        outbox=outbox,
        hprim=HprimExport(reports),
        order_intake=order_intake,
        pending_identities=PendingIdentityService(db, keys),
        incidents=IncidentService(db, keys, patients),
        qc=QcService(db, keys, catalogs),
    )
