"""What every workflow service shares: a lab-scoped, authorised transaction with the lab's keys
and active catalogue, the asker's tie to each order (a prescriber reads only the orders they
prescribed), and how restricted tests are shown (security/policy.py decides)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, select, true
from sqlalchemy.orm import Session

from labvault.catalog.model import Catalog
from labvault.catalog.service import CatalogService
from labvault.crypto.keyset import LabKeySet
from labvault.errors import Forbidden, LabvaultError
from labvault.keys.store import KeyStore
from labvault.security import audit, policy
from labvault.security.access import AccessContext, Role
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate, LabUnit
from labvault.security.grant_models import AccessOverride
from labvault.security.permissions import Permission
from labvault.security.policy import Effect, Relationship, Sensitivity
from labvault.store.base import utcnow
from labvault.store.database import Transactions
from labvault.workflow.models import Order, OrderItem

SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])

# The refusal of an item id that names nothing the caller may handle: absent, of another lab, or a
# restricted test the caller cannot see (:func:`refuse_unseen_item`): one text for all of them.
NO_ITEM = "no such order item in this laboratory"


@dataclass(frozen=True)
class Unit:
    """One transaction of one lab: the session, its keys and its catalogue."""

    session: Session
    keys: LabKeySet
    catalog: Catalog
    lab_id: uuid.UUID


class WorkflowService:
    def __init__(self, db: Transactions, keys: KeyStore, catalogs: CatalogService) -> None:
        self.catalogs = catalogs
        self.gate = Gate(db, keys)

    @contextmanager
    def _unit(self, ctx: AccessContext, permission: Permission, *, per_order: bool = False) -> Iterator[Unit]:
        """The gate's lab unit (security/gate.py) with the lab's active catalogue. ``per_order``: a
        read that decides each order it shows (:func:`authorize_order`) or only selects the
        caller's own (:func:`own_orders`): a prescriber passes the gate and is held to their orders
        there."""
        with self.gate.lab(ctx, permission, own_orders=per_order) as lab:
            yield self._with_catalog(lab)

    @contextmanager
    def _read(self, ctx: AccessContext, permission: Permission) -> Iterator[Unit]:
        """A read's unit, decided as a ``per_order`` :meth:`_unit`: read-only, its audit events
        group-committed, the answer given once they are (security/gate.py ``Gate.read``)."""
        with self.gate.read(ctx, permission, own_orders=True) as lab:
            yield self._with_catalog(lab)

    def _with_catalog(self, lab: LabUnit) -> Unit:
        return Unit(lab.session, lab.keys, self.catalogs.active_in(lab.session, lab.lab_id), lab.lab_id)


def relationship_to_order(ctx: AccessContext, order: Order) -> Relationship:
    """The caller's tie to ``order``: the prescriber's, only for the account of its physician."""
    return policy.relationship_to(ctx, order.prescriber_id)


def authorize_order(ctx: AccessContext, permission: Permission, order: Order) -> Relationship:
    """Decide ``permission`` on this one order (a prescriber's own order, or 403 with the policy's
    reason); the tie found, for the restricted tests of the same read."""
    relationship = relationship_to_order(ctx, order)
    policy.enforce(ctx, permission, relationship=relationship)
    return relationship


def own_orders(ctx: AccessContext) -> ColumnElement[bool]:
    """A condition on :class:`Order` keeping what a list may show the caller: every order of the lab
    for its staff, only the orders they prescribed for a prescriber (in the query: no count of the
    others leaks)."""
    physician = policy.prescriber_of(ctx)
    return true() if physician is None else Order.prescriber_id == physician


def own_orders_only(ctx: AccessContext, query: SelectT) -> SelectT:
    """``query`` (which selects from or joins :class:`Order`) held to :func:`own_orders`."""
    physician = policy.prescriber_of(ctx)
    return query if physician is None else query.where(Order.prescriber_id == physician)


def list_relationship(ctx: AccessContext) -> Relationship:
    """The tie of a list held to :func:`own_orders`: every order it shows a prescriber is theirs."""
    return Relationship.PRESCRIBER if ctx.role is Role.PRESCRIBER else Relationship.NONE


def signed_results_only(ctx: AccessContext) -> bool:
    """Whether ``ctx`` sees result values only once a biologist signed them (``validated``): a
    prescriber, like the report they receive; the lab's staff see every stage of the bench."""
    return ctx.role is Role.PRESCRIBER


def sees_restricted(
    ctx: AccessContext,
    permission: Permission = Permission.RESULT_READ,
    relationship: Relationship = Relationship.NONE,
) -> bool:
    """Whether ``ctx`` handles restricted tests without breaking the glass: biologists, and the
    prescriber of the order(s) at hand (``relationship``). For lists across patients (worklists),
    entry and validation, where no override ever applies."""
    request = policy.request_for(
        ctx, permission, sensitivity=Sensitivity.RESTRICTED, relationship=relationship
    )
    return policy.decide(request).allowed


def active_override(
    session: Session, actor_id: uuid.UUID | None, patient_id: uuid.UUID, now: dt.datetime
) -> AccessOverride | None:
    """The caller's open break-the-glass override for this patient, if any (the latest)."""
    if actor_id is None:
        return None
    return session.scalars(
        select(AccessOverride)
        .where(
            AccessOverride.actor_id == actor_id,
            AccessOverride.patient_id == patient_id,
            AccessOverride.expires_at > now,
        )
        .order_by(AccessOverride.expires_at.desc())
        .limit(1)
    ).first()


def unlock_restricted(
    unit: Unit,
    ctx: AccessContext,
    permission: Permission,
    patient_id: uuid.UUID,
    object_type: str,
    object_id: uuid.UUID,
    relationship: Relationship = Relationship.NONE,
) -> bool:
    """Whether this read may show the patient's restricted tests: by right (biologists, and the
    prescriber of the order read: ``relationship``), or through the caller's open break-the-glass
    override (POST /api/v1/break-glass), each such use audited."""
    request = policy.request_for(
        ctx, permission, sensitivity=Sensitivity.RESTRICTED, relationship=relationship
    )
    decision = policy.decide(request)
    if decision.effect is not Effect.BREAK_GLASS:
        return decision.allowed
    override = active_override(unit.session, ctx.actor_id, patient_id, utcnow())
    if override is None or not policy.decide(policy.with_override(request)).allowed:
        return False
    audit.append(
        unit.session,
        ctx,
        AuditRecord(
            "restricted.override_use",
            object_type,
            str(object_id),
            {"override_id": str(override.id)},
            patient_id=patient_id,
        ),
    )
    return True


def refuse_unseen_item(
    unit: Unit, ctx: AccessContext, item: OrderItem, absent: LabvaultError, where: str, work: str
) -> LabvaultError:
    """The refusal of ``work`` (entry, validation, a critical call: the glass never opens those)
    on a restricted ``item`` the caller may not handle. To a caller who cannot see the item either,
    ``absent``: the very answer the same route gives for an item that does not exist or is not on
    that tube, so that no refusal tells a restricted test from an absent one. To a caller who sees
    it through an open break-the-glass override for its patient, the truth (their order view shows
    the test). Called on the refusal path only: the override is looked up then."""
    request = policy.request_for(ctx, Permission.ORDER_READ, sensitivity=Sensitivity.RESTRICTED)
    if policy.decide(policy.with_override(request)).allowed:
        order = unit.session.get(Order, item.order_id)
        if order is not None and active_override(unit.session, ctx.actor_id, order.patient_id, utcnow()):
            return Forbidden(f"{where}: restricted test {item.test_code}: {work} by a biologist")
    return absent
