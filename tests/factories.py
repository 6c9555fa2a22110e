"""What tests build their data with: the service-level :class:`Factory` (labs, accounts, patients
with unique synthetic values) and the workflow :class:`Bench` (a lab's staff pushing orders through
reception, the bench and validation).

Fixtures live in tests/conftest.py; this module holds the classes, so that helpers and test
modules import them from one place instead of from a conftest.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy.exc

from labvault.demo.seed import to_patient_data
from labvault.identity.accounts import Account, context_for
from labvault.identity.lab_service import LabInfo
from labvault.identity.patient_data import PatientData
from labvault.identity.physician_service import PhysicianData
from labvault.identity.synthetic import generate_finess, generate_rpps, synthetic_patients
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose, Role
from labvault.workflow.order_data import ItemRecord, OrderRecord, OrderRequest, ResultSummary, SpecimenRecord
from labvault.workflow.result_entry import ResultEntry

TEST_PASSWORD = "correct horse battery staple"
# What an administrator gives a new account: it works once, for the owner to set their own.
GIVEN_PASSWORD = "given by the administrator"

# Where staff act from. DESK, what Factory.ctx uses, is a network origin: a user's first one becomes
# their usual origin for the new-origin alert. LOCAL (context_for's default) is not one, so setup done
# that way leaves the accounts' origins to the HTTP requests a test then makes.
DESK = "127.0.0.1"
LOCAL = "local"
ADULT_BIRTH = dt.date(1970, 5, 1)
STAFF_ROLES = (Role.RECEPTION, Role.TECHNICIAN, Role.BIOLOGIST)
CRITICAL_FLAGS = ("LL", "HH")

_counter = itertools.count(1)


def own(platform: Platform, account: Account, password: str = TEST_PASSWORD) -> Account:
    """The account's owner replaces the password their creator gave (:data:`GIVEN_PASSWORD`), its
    only use, by ``password``."""
    platform.accounts.set_own_password(account.username, GIVEN_PASSWORD, password, None, "test")
    return account


def cli_ctx() -> AccessContext:
    """The local command line acting as the platform operator (what creates labs and first admins)."""
    return AccessContext(None, "cli:test", Role.PLATFORM_OPERATOR, None, Purpose.MAINTENANCE)


class Factory:
    """Creates labs, accounts and patients with unique synthetic values."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.rng = random.Random(uuid.uuid4().int)
        self._admins: dict[uuid.UUID, Account] = {}
        self._people = synthetic_patients(100_000, self.rng.randrange(1 << 30))

    def lab(self, name: str = "Laboratoire de test") -> LabInfo:
        code = f"T{next(_counter)}{uuid.uuid4().hex[:6].upper()}"
        return self.platform.labs.create(cli_ctx(), code, name, generate_finess(self.rng))

    def user(self, lab: LabInfo | None, role: Role) -> Account:
        """Operators and a lab's first admin are created by the platform operator; staff accounts
        (and further admins) by that lab's admin, as the account rules require. Each owner then
        replaces the password they were given by :data:`TEST_PASSWORD`."""
        username = f"u{uuid.uuid4().hex[:12]}"
        if lab is None:
            return own(
                self.platform,
                self.platform.accounts.create_user(cli_ctx(), username, GIVEN_PASSWORD, role, None),
            )
        admin = self._admins.get(lab.id)
        if admin is None:
            admin = self.platform.accounts.create_user(
                cli_ctx(), f"a{uuid.uuid4().hex[:12]}", GIVEN_PASSWORD, Role.LAB_ADMIN, lab.id
            )
            own(self.platform, admin)
            self._admins[lab.id] = admin
            if role is Role.LAB_ADMIN:
                return admin
        creator = context_for(admin, Purpose.ADMINISTRATION, DESK)
        return own(
            self.platform, self.platform.accounts.create_user(creator, username, GIVEN_PASSWORD, role, lab.id)
        )

    def ctx(self, lab: LabInfo, role: Role = Role.RECEPTION) -> AccessContext:
        return context_for(self.user(lab, role), Purpose.CARE, DESK)

    def patient_data(self, **overrides: object) -> PatientData:
        return dataclasses.replace(to_patient_data(next(self._people)), **overrides)  # type: ignore[arg-type]


def years_ago(years: int, today: dt.date | None = None) -> dt.date:
    """A birth date ``years`` years before today (28 February for a 29 February)."""
    day = today or dt.datetime.now(dt.UTC).date()
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


@dataclass
class Bench:
    """One lab's reception, technician and biologist, and shortcuts to push orders through the
    workflow with the services: the setup of workflow, API and command-line tests alike.

    ``reception``, ``technician`` and ``biologist`` are the staff's contexts (acting from ``origin``);
    ``staff`` holds their accounts, for tokens and sign-ins. :meth:`create` makes a new lab;
    a test that already has the accounts builds the bench over them.
    """

    factory: Factory
    lab: LabInfo
    staff: dict[Role, Account]
    origin: str = DESK
    reception: AccessContext = field(init=False)
    technician: AccessContext = field(init=False)
    biologist: AccessContext = field(init=False)

    def __post_init__(self) -> None:
        self.reception, self.technician, self.biologist = (
            context_for(self.staff[role], Purpose.CARE, self.origin) for role in STAFF_ROLES
        )

    @classmethod
    def create(cls, platform: Platform, name: str = "Laboratoire workflow", *, origin: str = DESK) -> Bench:
        """A new lab with a receptionist, a technician and a biologist."""
        factory = Factory(platform)
        lab = factory.lab(name)
        return cls(factory, lab, {role: factory.user(lab, role) for role in STAFF_ROLES}, origin)

    @property
    def platform(self) -> Platform:
        return self.factory.platform

    # --- people -----------------------------------------------------------------------------------

    def patient(self, *, sex: str = "F", birth_date: dt.date = ADULT_BIRTH, **overrides: Any) -> uuid.UUID:
        """A patient without NIR/INS (the NIR must match sex and birth date, which vary here)."""
        data = self.factory.patient_data(
            birth_date=birth_date, sex=sex, nir=None, ins=None, ins_oid=None, ins_status=None, **overrides
        )
        return self.platform.patients.register(self.reception, data, accept_homonym=True).id

    def interface(self, name: str = "analyzer") -> Account:
        """A new interface account of the lab (an analyzer's, a receiver's), made by its admin."""
        admin = context_for(self.factory._admins[self.lab.id], Purpose.ADMINISTRATION, DESK)
        return self.platform.accounts.create_user(
            admin, f"{name}-{uuid.uuid4().hex[:8]}", GIVEN_PASSWORD, Role.INTERFACE, self.lab.id
        )

    def child(self, *, sex: str = "M", years: int = 8) -> uuid.UUID:
        return self.patient(sex=sex, birth_date=years_ago(years))

    def physician(
        self, family_name: str = "Prescripteur", given_names: str = "Hippolyte"
    ) -> tuple[uuid.UUID, str]:
        rpps = generate_rpps(random.Random(uuid.uuid4().int))
        data = PhysicianData(rpps=rpps, family_name=family_name, given_names=given_names)
        return self.platform.physicians.register(self.reception, data).id, rpps

    # --- orders and tubes -------------------------------------------------------------------------

    def order(
        self,
        patient_id: uuid.UUID | None = None,
        *,
        tests: Sequence[str] = (),
        panels: Sequence[str] = (),
        receive: bool = True,
        **fields: Any,
    ) -> OrderRecord:
        """An order (for a new adult woman unless ``patient_id``), its tubes received by default;
        ``fields``: the rest of the request (``prescriber_id``, ``urgent``...)."""
        request = OrderRequest(
            patient_id=patient_id or self.patient(), tests=tuple(tests), panels=tuple(panels), **fields
        )
        record = self.platform.orders.create(self.reception, request)
        if receive:
            for specimen in record.specimens:
                self.platform.specimens.receive(self.reception, specimen.barcode)
        return record

    def reject(self, barcode: str, reason: str, comment: str | None = None) -> SpecimenRecord:
        """Reject a tube; its tests move to a replacement tube."""
        try:
            return self.platform.specimens.reject(self.reception, barcode, reason, comment)
        except sqlalchemy.exc.IntegrityError as error:
            pytest.fail(
                "BUG SpecimenService.reject: the order items are moved to the replacement specimen before "
                f"that specimen is inserted (no flush in between), so the foreign key fails: {error.orig}"
            )

    def get(self, order_id: uuid.UUID, ctx: AccessContext | None = None) -> OrderRecord:
        return self.platform.orders.get(ctx or self.biologist, order_id)

    @staticmethod
    def items(order: OrderRecord) -> dict[str, uuid.UUID]:
        """The order's item ids by test code."""
        return {item.test_code: item.id for item in order.items}

    def item(self, order: OrderRecord, code: str) -> ItemRecord:
        return next(i for i in order.items if i.test_code == code)

    def item_id(self, order: OrderRecord, code: str) -> uuid.UUID:
        return self.item(order, code).id

    def result(self, order_id: uuid.UUID, code: str) -> ResultSummary | None:
        """The current result of one test of the order, as the biologist sees it."""
        return self.item(self.get(order_id), code).result

    # --- results ----------------------------------------------------------------------------------

    def enter(
        self,
        order: OrderRecord,
        values: Mapping[str, str],
        ctx: AccessContext | None = None,
        *,
        comments: Mapping[str, str] | None = None,
        reason: str | None = None,
    ) -> list[ResultSummary]:
        """Enter ``values`` by ``ctx``; without one, as the lab works: the technician enters the
        plain tests and the biologist the restricted ones (one call each, plain results first)."""

        def entries(codes: Iterable[str]) -> list[ResultEntry]:
            return [
                ResultEntry(self.item_id(order, code), values[code], (comments or {}).get(code), reason)
                for code in codes
            ]

        if ctx is not None:
            return self.platform.results.enter(ctx, entries(values))
        restricted = {code for code in values if self.item(order, code).restricted}
        entered: list[ResultSummary] = []
        for who, codes in (
            (self.technician, [code for code in values if code not in restricted]),
            (self.biologist, [code for code in values if code in restricted]),
        ):
            if codes:
                entered += self.platform.results.enter(who, entries(codes))
        return entered

    def validate(
        self,
        order: OrderRecord,
        codes: Iterable[str],
        *,
        biological: bool = True,
        call_critical: bool = False,
    ) -> None:
        """Technical validation (by the technician, or the biologist for restricted tests), then the
        biologist's. ``call_critical``: first record the phone call a critical value (LL/HH) needs,
        for tests whose setup is not about calls; without it, validating one is refused."""
        items = [self.item(order, code) for code in codes]
        plain = [i.id for i in items if not i.restricted]
        restricted = [i.id for i in items if i.restricted]
        if plain:
            self.platform.results.validate_technical(self.technician, plain)
        if restricted:
            self.platform.results.validate_technical(self.biologist, restricted)
        if not biological:
            return
        if call_critical:
            chosen = {i.test_code for i in items}
            for item in self.get(order.id).items:
                result = item.result
                uncalled = result is not None and result.flag in CRITICAL_FLAGS and not result.critical_called
                if item.test_code in chosen and uncalled:
                    self.platform.results.record_critical_call(
                        self.biologist, item.id, "Dr Garde, SAU", "phone"
                    )
        self.platform.results.validate_biological(self.biologist, [i.id for i in items])

    def enter_and_validate(self, order: OrderRecord, values: Mapping[str, str]) -> None:
        """Enter (all by the biologist if a test is restricted) and validate both stages."""
        restricted = any(self.item(order, code).restricted for code in values)
        self.enter(order, values, self.biologist if restricted else self.technician)
        self.validate(order, values)

    def release(self, order: OrderRecord) -> int:
        """The biologist releases the order's report; its version."""
        return self.platform.reports.release(self.biologist, order.id).version
