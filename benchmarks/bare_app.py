"""The floor of the HTTP read benchmark (benchmarks/api_reads.py): uvicorn, FastAPI routing, path and
query validation and a sync route, answering the very bytes labvault answered, with no token check,
database, decryption, audit or budget. labvault's reads/s over this app's is what its own work costs.

Served in a subprocess by ``uvicorn --factory benchmarks.bare_app:create_app``; the bodies are read
from the files the environment names (captured from the real server by one GET each).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from fastapi import FastAPI, Response

PATIENT_BODY_ENV = "BENCH_BARE_PATIENT_BODY"
WORKLIST_BODY_ENV = "BENCH_BARE_WORKLIST_BODY"
JSON = "application/json"


def create_app() -> FastAPI:
    """The two routes the benchmark reads, answering the captured bodies."""
    patient = Path(os.environ[PATIENT_BODY_ENV]).read_bytes()
    worklist = Path(os.environ[WORKLIST_BODY_ENV]).read_bytes()
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Sync routes, like labvault's: both pay the same hop to the thread pool.
    @app.get("/api/v1/patients/{patient_id}")
    def read_patient(patient_id: uuid.UUID) -> Response:
        return Response(patient, media_type=JSON)

    @app.get("/api/v1/worklist")
    def read_worklist(section: str, stage: str = "entry") -> Response:
        return Response(worklist, media_type=JSON)

    return app
