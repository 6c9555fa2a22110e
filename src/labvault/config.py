"""Settings from the environment (``LABVAULT_*``) or the CLI, with refusals of unsafe layouts."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DATABASE_FILE = "labvault.sqlite3"


class Settings(BaseSettings):
    """Where labvault keeps its data and keys, and how it serves."""

    model_config = SettingsConfigDict(env_prefix="LABVAULT_", extra="ignore")

    data_dir: Path = Path("var/data")
    key_dir: Path = Path("var/keys")
    database_url: str | None = None
    # PostgreSQL: the application's own role (no table ownership, no BYPASSRLS); database_url is
    # the owner's, for migrations and platform maintenance. Default: database_url as labvault_app.
    database_app_url: str | None = None
    # PostgreSQL connection pools, per server process (store/engine.py): the application's engine
    # at most pool_size + max_overflow connections (40: one per thread of uvicorn's pool), the
    # owner's (maintenance) at most owner_pool_size + owner_max_overflow. With N workers the server
    # needs N times their sum: keep it under PostgreSQL's max_connections (README, Configuration).
    database_pool_size: int = Field(default=10, ge=1, le=1000)
    database_max_overflow: int = Field(default=30, ge=0, le=1000)
    database_owner_pool_size: int = Field(default=2, ge=1, le=100)
    database_owner_max_overflow: int = Field(default=3, ge=0, le=100)
    checkpoint_dir: Path | None = None
    # The server signs the audit heads at least every interval, sooner once this many events were
    # appended since the last signature, and on every graceful stop (security/checkpoint_schedule.py).
    checkpoint_interval_seconds: int = Field(default=60, ge=1, le=3600)
    checkpoint_events: int = Field(default=100, ge=1, le=1_000_000)
    host: str = "127.0.0.1"
    port: int = 8000
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto the server believes (addresses or
    # CIDR networks, comma-separated or a JSON list). Empty: proxy headers are ignored and the
    # audit origin and login rate limit use the connecting peer's address.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    token_ttl_hours: int = 8  # absolute lifetime of a login session (and cap of any token minted by it)
    max_body_bytes: int = 64 * 1024
    # Authentication hardening (docs/AUTH.md).
    mfa_issuer: str = "labvault"  # the name authenticator apps show next to the account
    login_max_failures: int = Field(default=5, ge=1, le=100)  # consecutive failures before lockout
    login_lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    login_rate_limit: int = Field(default=30, ge=1)  # password-taking requests per origin per window
    login_rate_window_seconds: int = Field(default=60, ge=1, le=3600)
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)  # login sessions only
    reauth_max_age_minutes: int = Field(default=5, ge=1, le=60)  # before sensitive actions
    # WebAuthn security keys: the relying party is the site's domain, the origin what browsers send.
    webauthn_rp_id: str = "localhost"
    webauthn_rp_name: str = "labvault"
    webauthn_origin: str = "http://localhost:8000"
    # Roles that must use their security key (no TOTP fallback) once they have registered one,
    # e.g. ["lab_admin", "platform_operator"].
    security_key_roles: list[str] = Field(default_factory=list)
    # An operator's reset of a lab admin's factor waits this long, alerted to the lab, which may
    # cancel it (identity/account_actions.py); immediate only for a lab with no established admin.
    platform_action_delay_hours: int = Field(default=72, ge=24, le=24 * 30)  # a lab sees it within a day
    # Alerts, read budgets and canaries (docs/SECURITY.md). A budget counts the distinct patients
    # one user touched in a sliding window: past "soft" one alert, past "hard" the request is
    # refused (429). Per role, by role name; a role left out keeps its default (security/monitor.py).
    # Three windows: the short one (minutes), an hour and a day, each with its own thresholds.
    read_budgets: bool = True  # off only for benchmarks, whose one user reads thousands of patients
    read_budget_window_minutes: int = Field(default=10, ge=1, le=24 * 60)
    read_budget_soft: dict[str, int] = Field(default_factory=dict)
    read_budget_hard: dict[str, int] = Field(default_factory=dict)
    read_budget_hour_soft: dict[str, int] = Field(default_factory=dict)
    read_budget_hour_hard: dict[str, int] = Field(default_factory=dict)
    read_budget_day_soft: dict[str, int] = Field(default_factory=dict)
    read_budget_day_hard: dict[str, int] = Field(default_factory=dict)
    # Distinct patients one user opens one by one (worklists aside) in a minute past which one high
    # alert says a program is reading, not a person.
    read_rate_per_minute: int = Field(default=60, ge=1)
    # Lab-wide budget: the distinct patients all accounts of one lab touched together in the same
    # window (several accounts each under their own budget). Past soft one high alert per lab per
    # window; past hard the request is refused like the per-user hard budget. Hard is on: it can be
    # raised for a larger lab, not switched off. Sizing in docs/SECURITY.md.
    lab_read_budget_soft: int = Field(default=1000, ge=1)
    lab_read_budget_hard: int = Field(default=3000, ge=1)
    mass_export_patients: int = Field(default=500, ge=1)  # one request touching more: an alert
    # Refused requests (403, 404, 429) are audited on the caller's chain (oversight/refusals.py):
    # this many refusals by one account within the minutes after raise one high "probing" alert;
    # at most refusal_events_per_minute events per account a minute (the rest counted, not written).
    refusal_alert_count: int = Field(default=20, ge=2)
    refusal_alert_minutes: int = Field(default=10, ge=1, le=24 * 60)
    refusal_events_per_minute: int = Field(default=60, ge=1)
    off_hours_alerts: bool = True
    work_hours: str = Field(default="07:00-20:00", pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")  # lab-local
    work_days: str = Field(default="Mon-Sat", pattern=r"^[A-Z][a-z]{2}(-[A-Z][a-z]{2})?$")  # Mon..Sun
    lab_timezone: str = "Europe/Paris"
    new_origin_days: int = Field(default=30, ge=1, le=366)
    alert_webhook_url: str | None = None  # POSTed ids, kind and severity (no personal data)
    alert_webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: object) -> object:
        """``10.0.0.1,10.1.0.0/16`` or a JSON list; each an address or a network, never ``*``."""
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else [p for p in text.split(",") if p.strip()]
        if not isinstance(value, list):
            raise ValueError("trusted_proxies: a list of addresses or networks")
        proxies = [str(item).strip() for item in value]
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy) if "/" in proxy else ipaddress.ip_address(proxy)
            except ValueError:
                raise ValueError(
                    f"trusted proxy {proxy!r} is not an IP address or network (a wildcard would let "
                    "any client forge its origin)"
                ) from None
        return proxies

    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / DATABASE_FILE).resolve()}"

    def resolved_checkpoint_dir(self) -> Path:
        """Audit checkpoints live outside the database: by default beside the keys, not the data."""
        return self.checkpoint_dir or (self.key_dir / "audit")
