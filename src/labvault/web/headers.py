"""Security headers on every response, including those sent by outer middleware (the 413).

The API serves JSON (and PDF downloads): nothing it sends is meant to be rendered as a page,
framed, embedded by another origin, or kept in any cache. The browser UI's pages (under /ui) are
pages: they load their own stylesheet and script file, and post forms to this origin, nothing else.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labvault.web.ui import UI_PREFIX

# No script, style, frame, form or base URL is ever allowed: an API answer is never a page, so a
# reflected value in it can never run, and nobody can frame it (clickjacking).
CONTENT_SECURITY_POLICY = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The UI's pages: their own stylesheet and one script file of this origin (security keys: WebAuthn
# needs one), forms and fetches to this origin; no inline script, no eval, nothing from elsewhere.
UI_CONTENT_SECURITY_POLICY = (
    b"default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; "
    b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Powerful browser features the laboratory never needs.
PERMISSIONS_POLICY = (
    b"accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
    b"payment=(), usb=()"
)

COMMON_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),  # personal data must not sit in any cache
    (b"pragma", b"no-cache"),  # the same, for HTTP/1.0 proxies
    # Two years, every subdomain: browsers ignore it over plain HTTP (loopback), TLS proxies keep it.
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate CSP 2
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),  # no other origin may embed a PDF or JSON
    (b"permissions-policy", PERMISSIONS_POLICY),
)
SECURITY_HEADERS = (
    *COMMON_HEADERS,
    (b"content-security-policy", CONTENT_SECURITY_POLICY),
    (b"referrer-policy", b"no-referrer"),  # URLs hold ids: never hand them to another site
)
UI_SECURITY_HEADERS = (
    *COMMON_HEADERS,
    (b"content-security-policy", UI_CONTENT_SECURITY_POLICY),
    # Not even to another site, but to this origin yes: with no-referrer, browsers send
    # "Origin: null" on the pages' own form posts, and the CSRF origin check needs the real one.
    (b"referrer-policy", b"same-origin"),
)
# Headers whose value the application may not choose (ours win) or may not send at all.
_REPLACED = frozenset(name for name, _ in SECURITY_HEADERS)
_REMOVED = frozenset({b"server", b"x-powered-by"})  # no product or version for a scanner to match


class SecurityHeaders:
    """Outermost ASGI wrapper: sets the headers on each response start, whoever sends it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        path: str = scope.get("path", "")
        ours = (
            UI_SECURITY_HEADERS if path == UI_PREFIX or path.startswith(UI_PREFIX + "/") else SECURITY_HEADERS
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in _REPLACED and k.lower() not in _REMOVED
                ]
                message["headers"] = [*kept, *ours]
            await send(message)

        await self.app(scope, receive, send_with_headers)
