"""Settings from the environment (``LABVAULT_*``) or the CLI, with refusals of unsafe layouts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    checkpoint_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
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
    # Alerts, read budgets and canaries (docs/SECURITY.md). A budget counts the distinct patients
    # one user touched in a sliding window: past "soft" one alert, past "hard" the request is
    # refused (429). Per role, by role name; a role left out keeps its default (security/monitor.py).
    read_budgets: bool = True  # off only for benchmarks, whose one user reads thousands of patients
    read_budget_window_minutes: int = Field(default=10, ge=1, le=24 * 60)
    read_budget_soft: dict[str, int] = Field(default_factory=dict)
    read_budget_hard: dict[str, int] = Field(default_factory=dict)
    # Lab-wide budget: the distinct patients all accounts of one lab touched together in the same
    # window (several accounts each under their own budget). Past soft one high alert per lab per
    # window; past hard the request is refused like the per-user hard budget. Hard is off unless
    # set: a lab in an epidemic peak must keep working. Sizing in docs/SECURITY.md.
    lab_read_budget_soft: int = Field(default=1000, ge=1)
    lab_read_budget_hard: int | None = Field(default=None, ge=1)
    mass_export_patients: int = Field(default=500, ge=1)  # one request touching more: an alert
    off_hours_alerts: bool = True
    work_hours: str = Field(default="07:00-20:00", pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")  # lab-local
    work_days: str = Field(default="Mon-Sat", pattern=r"^[A-Z][a-z]{2}(-[A-Z][a-z]{2})?$")  # Mon..Sun
    lab_timezone: str = "Europe/Paris"
    new_origin_days: int = Field(default=30, ge=1, le=366)
    alert_webhook_url: str | None = None  # POSTed ids, kind and severity (no personal data)
    alert_webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / DATABASE_FILE).resolve()}"

    def resolved_checkpoint_dir(self) -> Path:
        """Audit checkpoints live outside the database: by default beside the keys, not the data."""
        return self.checkpoint_dir or (self.key_dir / "audit")
