"""The browser UI: server-rendered pages under /ui, signed in with a session cookie.

The JSON API stays bearer-only and never reads a cookie; the pages here never accept a bearer
token. Every state-changing page request is a POST that must carry the session's CSRF token and
come from this origin (docs/AUTH.md, "Browser sessions")."""

UI_PREFIX = "/ui"
