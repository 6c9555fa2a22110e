"""Cross-site request forgery defence for the browser UI, in three independent layers:

1. the cookies are SameSite=Strict (ui.cookies): another *site* never sends them;
2. every POST must come from this origin: ``Sec-Fetch-Site`` (sent by every current browser) must
   be ``same-origin`` and ``Origin``, when present, must be this server's; a POST carrying neither
   is refused (every browser sends at least ``Origin`` on a POST: a request without both is a
   script or a client stripping them, and the token alone must not be enough). Another port or
   subdomain of the same site passes layer 1, not this one. Reads of a session's pages (GET) must
   not come from another origin either (a same-site image would read a record in the user's name);
3. every POST form carries a token bound to the session (OWASP's HMAC "synchronizer" pattern):
   HMAC-SHA256 keyed by the session token, which only this browser holds (HttpOnly cookie), so a
   page of another origin can neither read nor compute it. Before sign-in the token is bound to
   the login cookie instead (login CSRF: an attacker signing the victim into the attacker's account).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from starlette.requests import Request

from labvault.errors import Forbidden

CSRF_FIELD = "csrf_token"
_SESSION_PURPOSE = b"labvault ui csrf v1: session"
_LOGIN_PURPOSE = b"labvault ui csrf v1: login"


class CrossOriginRefused(Forbidden):
    """A request this origin did not start (or cannot show it did): possibly forged by another page
    in the user's browser, so not audited as the user's own refusal (web/errors.py)."""


def _mac(secret: str, purpose: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), purpose, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def session_token(session_secret: str) -> str:
    """The CSRF token of the forms shown in this session."""
    return _mac(session_secret, _SESSION_PURPOSE)


def login_token(login_nonce: str) -> str:
    """The CSRF token of the login form shown to the browser holding ``login_nonce``."""
    return _mac(login_nonce, _LOGIN_PURPOSE)


def _netloc(origin: str) -> str:
    """``host[:port]`` of an Origin header: the scheme is left out, as a TLS proxy in front of the
    server turns https into http (HSTS keeps browsers on https)."""
    return origin.partition("://")[2]


def check_same_origin(request: Request) -> None:
    """Layer 2: refuse a request that the browser says another origin started, or that says
    nothing of where it comes from (neither ``Sec-Fetch-Site`` nor ``Origin``)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site != "same-origin":
        raise CrossOriginRefused(f"cross-origin request refused (Sec-Fetch-Site: {fetch_site[:20]})")
    origin = request.headers.get("origin")
    if fetch_site is None and origin is None:
        raise CrossOriginRefused("request refused: it says neither its origin nor its fetch site")
    if origin is not None and _netloc(origin) != request.headers.get("host", ""):
        raise CrossOriginRefused("cross-origin request refused (Origin is not this server)")


def check_own_navigation(request: Request) -> None:
    """Every page of a session, GETs included: started by this origin or by the person (typed,
    bookmarked: ``none``), never by another origin, not even of the same site (its cookie would be
    sent): an image or link there would read a record in the user's name, fill the access log and
    spend their read budget."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        raise CrossOriginRefused(f"cross-origin request refused (Sec-Fetch-Site: {fetch_site[:20]})")


def check_token(sent: str | None, expected: str) -> None:
    """Layer 3: the form's token must be the one this session (or login cookie) gives."""
    if not sent or not hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8")):
        raise CrossOriginRefused(
            "the form's security token is missing or wrong: reload the page and try again"
        )
