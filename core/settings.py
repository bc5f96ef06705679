"""Settings, read once from the environment (and an optional `.env`).

Every knob an operator may turn lives here, with the name of its environment variable. Only the
wiring (`app/services.py`, `app/cli.py`) reads `Settings`: it builds each component's own small
typed config from it, so no component depends on this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("codepattern", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # --- HTTP ---
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    graphiql: bool = True

    # --- Database ---
    # Unset: an embedded PostgreSQL in `data_dir/pgdata`. Set: used as given (Supabase included).
    database_url: str | None = None
    # `transaction` for PgBouncer/Supavisor transaction pooling (Supabase port 6543):
    # disables asyncpg's prepared-statement cache, which such poolers cannot carry.
    database_pooler_mode: Literal["session", "transaction"] = "session"
    database_pool_min: int = 2
    database_pool_max: int = 10
    database_command_timeout: float = 30.0
    data_dir: Path = Field(default_factory=default_data_dir)
    # Load the pattern catalog on start-up when the patterns table is empty.
    seed_on_start: bool = True

    # --- Auth ---
    # Supabase project's JWT secret (Settings > API). Unset in development: a local one is
    # generated under data_dir and `codepattern token` mints tokens for it.
    supabase_jwt_secret: SecretStr | None = None
    jwt_audience: str = "authenticated"

    # --- Models (each a Hugging Face id or a local folder; None = the packaged default) ---
    embedding_model: str | None = None
    generation_model: str | None = None
    # For GGUF checkpoints: the file inside `generation_model`'s folder/repo.
    generation_gguf_file: str | None = None
    model_device: str = "auto"  # auto | cpu | cuda | cuda:N
    torch_threads: int = 1
    model_workers: int = 2  # threads in the model service's pool
    model_idle_unload_seconds: float = 600.0
    models_enabled: bool = True  # False: rule-based analysis only
    embed_max_batch: int = 32
    embed_max_wait_ms: float = 5.0
    generation_max_new_tokens: int = 160
    generation_context_tokens: int = 2048

    # --- Sandbox ---
    sandbox_cpu_seconds: float = 2.0
    sandbox_wall_seconds: float = 5.0
    sandbox_memory_mb: int = 256
    sandbox_max_output_bytes: int = 64_000
    sandbox_workers: int = 2
    # strict: refuse to judge unless every confinement layer is in place (docs/SANDBOX.md);
    # degraded: judge with what this machine allows (a laptop without namespaces), loudly.
    sandbox_require: Literal["strict", "degraded"] = "strict"

    # --- Analysis jobs ---
    analysis_workers: int = 1  # analyses run at once in this process (0: this process runs none)
    analysis_max_attempts: int = 3  # a job interrupted this often is failed, not retried
    analysis_lease_seconds: float = 60.0  # a dead worker's job is picked up again after this
    analysis_poll_seconds: float = 2.0  # fallback when LISTEN/NOTIFY is unavailable (poolers)
    max_code_chars: int = 20_000

    @property
    def pgdata_dir(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def jwt_secret_file(self) -> Path:
        return self.data_dir / "jwt-secret"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment and `.env`; `overrides` (e.g. command-line flags) win."""
    return Settings(**overrides)  # type: ignore[arg-type]
