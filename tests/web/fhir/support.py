"""The FHIR tests' world: lab A with a patient (NIR and INS), a prescriber, two orders (one plain,
validated and released; one holding an HIV test, released to biologists only), lab B as the
outsider; and every answer checked as FHIR by parsing it with the R4B models."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from fhir.resources.R4B import get_fhir_model_class

from labvault.identity.patient_data import PatientData
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.workflow.order_data import OrderRecord
from tests.factories import Bench, years_ago
from tests.web.support import TwoLabs

FHIR = "/fhir"
FHIR_JSON = "application/fhir+json"


def parsed(response: httpx.Response) -> Any:
    """The answer as an R4B resource: every FHIR answer must parse, errors included."""
    assert response.headers["content-type"].startswith(FHIR_JSON), (response.status_code, response.text[:300])
    body = response.json()
    model = get_fhir_model_class(body["resourceType"])
    return model.model_validate(body)


def outcome_of(response: httpx.Response, status: int) -> str:
    """The diagnostics of an OperationOutcome answered with ``status``."""
    assert response.status_code == status, (response.status_code, response.text[:400])
    resource = parsed(response)
    assert resource.get_resource_type() == "OperationOutcome"
    diagnostics: str = resource.issue[0].diagnostics
    return diagnostics


def entries(response: httpx.Response) -> list[Any]:
    assert response.status_code == 200, response.text[:400]
    bundle = parsed(response)
    assert bundle.type == "searchset"
    return [entry.resource for entry in bundle.entry or []]


@dataclass
class World:
    labs: TwoLabs
    bench: Bench
    patient: PatientData
    patient_id: uuid.UUID
    physician_id: uuid.UUID
    rpps: str
    plain: OrderRecord  # GLU and K, validated, report released
    hiv: OrderRecord  # HIV and CRP, validated, report released (restricted)

    @property
    def platform(self) -> Platform:
        return self.labs.platform

    def headers(self, role: Role, side: str = "a") -> dict[str, str]:
        account = self.labs.owner(role) if side == "a" else self.labs.other(role)
        return self.labs.auth(account)

    def get(self, path: str, role: Role = Role.BIOLOGIST, side: str = "a", **kwargs: Any) -> httpx.Response:
        response: httpx.Response = self.labs.client.get(
            f"{FHIR}{path}", headers=self.headers(role, side), **kwargs
        )
        return response

    def search(
        self, resource_type: str, form: dict[str, str], role: Role = Role.BIOLOGIST, side: str = "a"
    ) -> httpx.Response:
        response: httpx.Response = self.labs.client.post(
            f"{FHIR}/{resource_type}/_search", data=form, headers=self.headers(role, side)
        )
        return response


@contextlib.contextmanager
def world(platform: Platform) -> Iterator[World]:
    with TwoLabs.open(platform) as labs:
        bench = labs.bench("a")
        data = bench.factory.patient_data()
        while data.nir is None or data.ins is None or data.birth_date > years_ago(20):  # adult ranges
            data = bench.factory.patient_data()
        patient_id = platform.patients.register(bench.reception, data, accept_homonym=True).id
        physician_id, rpps = bench.physician()
        plain = bench.order(patient_id, tests=("GLU", "K"), prescriber_id=physician_id)
        bench.enter_and_validate(plain, {"GLU": "5.4", "K": "4.1"})
        bench.release(plain)
        hiv = bench.order(patient_id, tests=("HIV", "CRP"), prescriber_id=physician_id)
        bench.enter(hiv, {"HIV": "negative", "CRP": "3"})
        bench.validate(hiv, ["HIV", "CRP"])
        bench.release(hiv)
        yield World(labs, bench, data, patient_id, physician_id, rpps, bench.get(plain.id), bench.get(hiv.id))
