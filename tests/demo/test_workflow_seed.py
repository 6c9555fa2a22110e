"""The demo's synthetic activity, through the real workflow services, on both backends."""

from __future__ import annotations

import datetime as dt
import io
import random
import uuid

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from labvault.catalog.loader import default_catalog
from labvault.catalog.ranges import select_range
from labvault.demo.seed import seed
from labvault.demo.workflow_seed import PROFILES, SeedPatient, _draw_number, _plan
from labvault.errors import Forbidden
from labvault.identity.accounts import context_for
from labvault.identity.models import User
from labvault.platform import Platform
from labvault.security.access import Purpose
from labvault.workflow.models import CriticalCall, Order, OrderItem, Report, Result, Specimen

ORDERS = 24


def test_demo_workflow_seed(fresh_platform: Platform) -> None:
    platform = fresh_platform
    creds = seed(platform, 1, 50, 7, orders_per_lab=ORDERS)
    activity = creds.workflow
    assert activity["orders"] == ORDERS and activity["physicians"] == 5
    assert activity["validated"] > 0 and activity["reports"] > 0 and activity["pending_items"] > 0
    assert activity["restricted_orders"] > 0 and activity["critical"] == activity["critical_calls"] > 0

    lab = platform.labs.by_code("DEMO1")
    users = {u["role"]: platform.accounts.by_username(u["username"]) for u in creds.users if u["lab"]}
    biologist = context_for(users["biologist"], Purpose.CARE)
    reception = context_for(users["reception"], Purpose.CARE)
    with platform.db.transaction(lab.id) as session:
        orders = session.scalars(select(Order).order_by(Order.created_at)).all()
        statuses: dict[str, int] = {
            status: count
            for status, count in session.execute(
                select(OrderItem.status, func.count()).group_by(OrderItem.status)
            )
        }
        reports = session.scalars(select(Report).order_by(Report.released_at)).all()
        validated = session.scalar(select(func.count()).where(Result.status == "validated"))
        calls = session.scalar(select(func.count(CriticalCall.id)))
        tube_statuses = set(session.scalars(select(Specimen.status)))
        named = session.scalars(select(User.full_name_enc).where(User.lab_id == lab.id)).all()
    assert len(orders) == ORDERS and len({o.prescriber_id for o in orders}) > 1
    assert validated == activity["validated"] and calls == activity["critical_calls"]
    assert statuses["validated"] == activity["validated"]
    assert sum(n for s, n in statuses.items() if s != "validated") == activity["pending_items"]
    assert {"pending", "entered"} <= statuses.keys()  # work left at the bench
    assert {"received", "awaited"} <= tube_statuses
    assert all(named)  # staff accounts carry a (synthetic, encrypted) full name
    assert len(reports) == activity["reports"] and {r.kind for r in reports} <= {"partial", "final"}

    # a released report opens as a PDF; a restricted one only for the biologist
    plain = next(r for r in reports if not r.restricted)
    pdf = platform.reports.pdf(reception, plain.order_id, plain.version)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 1 and "Laboratoire" in reader.pages[0].extract_text()
    restricted = next(r for r in reports if r.restricted)
    assert platform.reports.pdf(biologist, restricted.order_id).startswith(b"%PDF")
    with pytest.raises(Forbidden):
        platform.reports.pdf(reception, restricted.order_id)
    hidden = platform.orders.get(reception, restricted.order_id)
    assert hidden.hidden_items > 0 and all(not i.restricted for i in hidden.items)

    # repeat orders of the same patients: previous results (and deltas) are there to see
    later = [platform.orders.get(biologist, o.id) for o in orders[-ORDERS // 2 :]]
    previous = [i for o in later for i in o.items if i.result is not None and i.result.previous]
    assert previous, "later orders should show the patient's previous results"
    with_history = platform.reports.history(biologist, later[-1].patient_id)
    assert with_history.series
    assert platform.audit.verify().ok


def test_drawn_values_follow_the_reference_ranges() -> None:
    catalog = default_catalog()
    rng = random.Random(3)
    for code in ("HGB", "K", "CRP", "HDL", "TSH", "FERR"):
        test = catalog.test(code)
        interval = select_range(test, "F", 50 * 365)
        assert interval is not None
        normal = [_draw_number(test, interval, None, rng) for _ in range(200)]
        assert all((interval.low or 0) <= v <= (interval.high or float("inf")) for v in normal), code
        if interval.high is not None:
            assert all(_draw_number(test, interval, "H", rng) > interval.high for _ in range(50)), code
        if interval.low is not None:
            assert all(_draw_number(test, interval, "L", rng) < interval.low for _ in range(50)), code
    for code in ("K", "GLU"):
        test = catalog.test(code)
        assert test.critical is not None and test.critical.high is not None
        assert _draw_number(test, select_range(test, "M", 40 * 365), "critical", rng) > test.critical.high
    panels = {p.code for p in catalog.panels}
    for profile in PROFILES:
        assert set(profile.panels) <= panels and all(catalog.get(code) for code in profile.tests)


def test_plan_makes_exactly_the_orders_asked_with_pending_work() -> None:
    catalog = default_catalog()
    people = [SeedPatient(uuid.uuid4(), "F", dt.date(1960, 1, 1)) for _ in range(5)]
    for orders in (1, 2, 3, 4, 8, 24, 60, 61):
        rounds = _plan(catalog, people, [], orders, random.Random(orders))
        assert sum(len(r) for r in rounds) == orders
        assert any(v.profile.name == "depistage" for v in rounds[0])  # a restricted order
        if len(rounds[-1]) >= 3:  # from 8 orders on
            assert {v.stage for v in rounds[-1]} >= {"released", "tech_pending", "awaiting"}
