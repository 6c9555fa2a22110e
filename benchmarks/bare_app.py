"""The floor of the HTTP read benchmark (benchmarks/api_reads.py): uvicorn, FastAPI routing, path and
query validation and a sync route, answering the very bytes labvault answered, with no token check,
database, decryption, audit or budget. labvault's reads/s over this app's is what its own work costs.

Served in a subprocess by ``python -m benchmarks.bare_app --port P --workers N``, the way
``labvault serve`` serves (one process: ``uvicorn.run``; several: web/processes.py); the bodies are
read from the files the environment names (captured from the real server by one GET each).
"""

from __future__ import annotations

import argparse
import os
import uuid
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Response

PATIENT_BODY_ENV = "BENCH_BARE_PATIENT_BODY"
WORKLIST_BODY_ENV = "BENCH_BARE_WORKLIST_BODY"
JSON = "application/json"
APP = "benchmarks.bare_app:create_app"


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


def main() -> None:
    parser = argparse.ArgumentParser(description="the bare app of benchmarks/api_reads.py")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": args.port,
        "factory": True,
        "log_level": "warning",
        "access_log": False,
        "server_header": False,
    }
    if args.workers == 1:
        uvicorn.run(APP, **options)
    else:
        from labvault.web.processes import serve_processes  # here: a tree before it can run one

        serve_processes(APP, args.workers, **options)


if __name__ == "__main__":
    main()
