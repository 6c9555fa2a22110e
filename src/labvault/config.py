"""Settings from the environment (``LABVAULT_*``) or the CLI, with refusals of unsafe layouts."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

DATABASE_FILE = "labvault.sqlite3"


class Settings(BaseSettings):
    """Where labvault keeps its data and keys, and how it serves."""

    model_config = SettingsConfigDict(env_prefix="LABVAULT_", extra="ignore")

    data_dir: Path = Path("var/data")
    key_dir: Path = Path("var/keys")
    database_url: str | None = None
    checkpoint_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    token_ttl_hours: int = 8
    max_body_bytes: int = 64 * 1024

    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / DATABASE_FILE).resolve()}"

    def resolved_checkpoint_dir(self) -> Path:
        """Audit checkpoints live outside the database: by default beside the keys, not the data."""
        return self.checkpoint_dir or (self.key_dir / "audit")
