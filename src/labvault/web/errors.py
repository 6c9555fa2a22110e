"""Domain errors → HTTP answers with a precise, value-free reason: JSON for the API, an HTML page
for the browser UI (a sign-in page when the session is missing or over)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from labvault.crypto.errors import IntegrityError, KeyUnavailable
from labvault.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated, UnknownId
from labvault.identity.accounts import context_for
from labvault.interop.fhir.outcome import FhirBadRequest, outcome
from labvault.interop.fhir.systems import FHIR_JSON
from labvault.oversight.read_budget import ReadBudgetExceeded
from labvault.oversight.refusals import Refusal, RefusalService, target_of
from labvault.security.access import AccessContext
from labvault.security.audit import AuditUnavailable
from labvault.store.tenancy import TenantScopeError
from labvault.web.deps import origin_of
from labvault.web.ui import UI_PREFIX, cookies, csrf, pages

_log = logging.getLogger(__name__)


def _is_ui(request: Request) -> bool:
    path = request.url.path
    return path == UI_PREFIX or path.startswith(UI_PREFIX + "/")


FHIR_PREFIX = "/fhir"


def _is_fhir(request: Request) -> bool:
    """FHIR's routes answer every error as an OperationOutcome (application/fhir+json)."""
    path = request.url.path
    return path == FHIR_PREFIX or path.startswith(FHIR_PREFIX + "/")


def _fhir_invalid_status(request: Request, exc: Exception) -> int:
    """FHIR refuses a malformed search with 400, and a resource it cannot process with 422:
    refused values of a read or a search (GET, ``_search``) are the former."""
    searching = request.method == "GET" or request.url.path.endswith("/_search")
    return 400 if isinstance(exc, FhirBadRequest) or searching else 422


def _answer(request: Request, status: int, detail: object, headers: dict[str, str] | None = None) -> Response:
    if _is_fhir(request):
        return JSONResponse(outcome(status, _sentence(detail)), status, headers, media_type=FHIR_JSON)
    if _is_ui(request):
        page = pages.error_page(status, _sentence(detail))
        page.headers.update(headers or {})
        return page
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _sentence(detail: object) -> str:
    """A validation error list as one line a person can read (field: reason; ...)."""
    if isinstance(detail, list):
        parts = []
        for error in detail:
            where = [str(p) for p in error.get("loc", ()) if p not in ("body", "form")]
            parts.append(f"{'.'.join(where) or 'request'}: {error.get('msg', 'invalid')}")
        return "; ".join(parts)
    return str(detail)


def _sign_in_again(request: Request) -> Response:
    """A UI request without a valid session goes to the sign-in page (saying why if it had one)."""
    had_session = cookies.read(request, cookies.SESSION_COOKIE) is not None
    response = RedirectResponse(f"{UI_PREFIX}/login{'?ended=1' if had_session else ''}", status_code=303)
    cookies.clear_session(response)
    return response


def _caller(request: Request) -> AccessContext | None:
    """The context the refused request ran as, if it got as far as being authenticated."""
    ctx: AccessContext | None = getattr(request.state, "access_context", None)
    account = getattr(request.state, "account", None)
    if ctx is None and account is not None:
        ctx = context_for(account, origin=origin_of(request))
    return ctx


def _route_template(request: Request) -> str | None:
    """The matched route's template with the prefixes it was included under
    (``/api/v1/patients/{patient_id}``): the route knows its own path only, the request's path
    gives the prefix (as many leading segments as the route has fewer), never an id."""
    path = getattr(request.scope.get("route"), "path", None)
    if not isinstance(path, str):
        return None
    own, sent = path.split("/")[1:], request.url.path.split("/")[1:]
    if len(sent) < len(own):
        return path
    prefix = sent[: len(sent) - len(own)]
    return "/" + "/".join([*prefix, *own]) if prefix else path


async def _audit_refusal(
    request: Request, status: int, ctx: AccessContext | None = None, named: Mapping[str, str] | None = None
) -> None:
    """Hand the refusal to the refusal service (oversight/refusals.py), off the event loop; it
    never raises: the answer stays the refusal. ``named``: ids the body named (:class:`UnknownId`)."""
    try:
        ctx = ctx or _caller(request)
        template = _route_template(request)
        if ctx is None or template is None:
            return
        refusal = Refusal(
            request.method, template, status, target_of({**request.path_params, **(named or {})})
        )
        service: RefusalService = request.app.state.platform.refusals
    except Exception:
        _log.exception("could not describe a refused request for the audit")
        return
    await run_in_threadpool(service.record, ctx, refusal)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> Response:
        # Pydantic echoes the refused value as "input": drop it, it is usually personal data.
        errors = [{k: v for k, v in e.items() if k not in ("input", "url")} for e in exc.errors()]
        status = _fhir_invalid_status(request, exc) if _is_fhir(request) else 422
        return _answer(request, status, jsonable_encoder(errors))

    @app.exception_handler(InvalidInput)
    async def invalid(request: Request, exc: InvalidInput) -> Response:
        if isinstance(exc, UnknownId):  # an id the caller cannot see, named in the body: probing too
            await _audit_refusal(request, 422, named=exc.target)
        status = _fhir_invalid_status(request, exc) if _is_fhir(request) else 422
        return _answer(
            request, status, [{"loc": ["body", exc.field], "msg": exc.reason, "type": "invalid_value"}]
        )

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(request: Request, exc: Unauthenticated) -> Response:
        if _is_ui(request):
            return _sign_in_again(request)
        return _answer(request, 401, str(exc), {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if not isinstance(exc, csrf.CrossOriginRefused):  # maybe forged by another page: not theirs
            await _audit_refusal(request, 403)
        return _answer(request, 403, str(exc))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        await _audit_refusal(request, 404)
        return _answer(request, 404, str(exc))

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict) -> Response:
        if _is_ui(request) or _is_fhir(request):
            return _answer(request, 409, str(exc))
        return JSONResponse({"detail": str(exc), "existing_ids": exc.existing_ids}, status_code=409)

    @app.exception_handler(KeyUnavailable)
    async def key_unavailable(request: Request, exc: KeyUnavailable) -> Response:
        return _answer(request, 410, "this laboratory's keys are not available (destroyed or missing)")

    @app.exception_handler(IntegrityError)
    async def integrity(request: Request, exc: IntegrityError) -> Response:
        return _answer(request, 500, f"stored data failed its integrity check: {exc}")

    @app.exception_handler(ReadBudgetExceeded)
    async def over_budget(request: Request, exc: ReadBudgetExceeded) -> Response:
        # The alert of the refusal was recorded as the refused transaction rolled back; the
        # route asked is recorded here.
        await _audit_refusal(request, 429, exc.ctx)
        return _answer(request, 429, str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(AuditUnavailable)
    async def audit_down(request: Request, exc: AuditUnavailable) -> Response:
        return _answer(request, 503, "the audit log cannot be written; access refused")

    @app.exception_handler(TenantScopeError)
    async def scope(request: Request, exc: TenantScopeError) -> Response:
        return _answer(request, 500, "internal tenant scoping error")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Starlette's own errors (unknown path, method not allowed, the 429 of the login limit)."""
        if _is_fhir(request):
            return _answer(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))
        if _is_ui(request):
            response = pages.error_page(exc.status_code, str(exc.detail))
            response.headers.update(exc.headers or {})
            return response
        return await http_exception_handler(request, exc)
