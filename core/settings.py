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
    # text: one readable line per record; json: one JSON object per line (for log collectors),
    # with the request id of the request or analysis it belongs to.
    log_format: Literal["text", "json"] = "text"
    graphiql: bool = True
    # Progress bars for model loading and catalog embedding: auto draws them when stderr is a
    # terminal (log lines otherwise), on / off force it.
    progress_bars: Literal["auto", "on", "off"] = "auto"
    # GET /metrics in Prometheus' text format (docs/OPERATIONS.md lists the metrics).
    metrics: bool = True
    # `codepattern worker` has no web server: with a port, it serves /metrics there (on HOST).
    metrics_port: int | None = None
    # OpenTelemetry spans per GraphQL operation and resolver (the `tracing` extra; exported as the
    # OpenTelemetry SDK's OTEL_* variables say, e.g. OTEL_EXPORTER_OTLP_ENDPOINT).
    otel_tracing: bool = False

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
    # Asymmetric keys (ES256/RS256) from a JWKS document: Supabase's
    # https://<project>.supabase.co/auth/v1/.well-known/jwks.json, or a file. HS256 tokens signed
    # with the secret above are accepted as well.
    jwt_jwks_url: str | None = None
    jwt_jwks_file: Path | None = None
    jwt_jwks_cache_seconds: float = 600.0  # refreshed sooner when a token names an unknown `kid`
    jwt_jwks_timeout_seconds: float = 5.0
    jwt_issuer: str | None = None  # checked when set (Supabase: https://<project>.supabase.co/auth/v1)
    jwt_leeway_seconds: float = 30.0  # clock skew allowed on exp / nbf / iat

    # --- Abuse limits (checked before execution; QUERY_TOO_COMPLEX / RATE_LIMITED) ---
    graphql_max_depth: int = 12
    graphql_max_aliases: int = 30
    graphql_max_fields: int = 300  # field selections in the whole document, fragments expanded
    graphql_max_cost: int = 5000  # each field costs 1, times the page size of the lists above it
    graphql_max_batch: int = 10  # operations in one batched HTTP request
    # Off in production: clients use schema.graphql; GraphiQL needs it on.
    graphql_introspection: bool = True
    # Anonymous queries' answers, kept at most this long and dropped when public data changes
    # (app/response_cache.py); signed-in callers are never served from it.
    response_cache: bool = True
    response_cache_max_age_seconds: float = 1.0
    response_cache_max_entries: int = 1024
    # Automatic persisted queries (Apollo's protocol): documents remembered by their sha256.
    persisted_queries_max: int = 1000
    max_request_bytes: int = 256_000
    # Requests per minute; a learner by their id, an anonymous caller by IP. 0 turns one off.
    rate_limit_submit_per_minute: int = 30
    rate_limit_analysis_per_minute: int = 30
    rate_limit_search_per_minute: int = 60
    rate_limit_join_per_minute: int = 10  # joinGroup
    # Analyses waiting for a worker, all learners together; beyond it requests get SERVICE_UNAVAILABLE.
    analysis_queue_max: int = 2000
    # /readyz tells anonymous callers states only; with this token (Authorization: Bearer ...) or
    # readyz_details on, it adds the details (paths, sandbox layers, models).
    operator_token: SecretStr | None = None
    readyz_details: bool = False

    # --- Models (each a Hugging Face id or a local folder; None = the packaged default) ---
    embedding_model: str | None = None
    generation_model: str | None = None
    # For GGUF checkpoints: the file inside `generation_model`'s folder/repo.
    generation_gguf_file: str | None = None
    model_device: str = "auto"  # auto | cpu | cuda | cuda:N
    torch_threads: int = 1  # per op in the model service's pool (embeddings, tokenising)
    # The batch engine's threads for batches and prefills (a lone row's step uses one): 0 is the
    # CPUs this process may use, at most 4. It runs niced, so the judge still goes first.
    generation_threads: int = 0
    model_workers: int = 2  # threads in the model service's pool
    model_idle_unload_seconds: float = 600.0
    models_enabled: bool = True  # False: rule-based analysis only
    embed_max_batch: int = 32
    embed_max_wait_ms: float = 5.0
    generation_max_new_tokens: int = 160
    generation_context_tokens: int = 2048
    # Load both models in the background as the server starts (/readyz says when they are in);
    # off: each loads on first use.
    models_preload: bool = True
    # Keep the dequantised weights of a GGUF checkpoint as safetensors under data_dir/model-cache,
    # keyed by the file's hash and the library versions, so a restart skips the conversion.
    model_cache: bool = True
    # Batched generation: concurrent analyses share the model, stepping together (docs/DESIGN.md).
    generation_max_batch: int = 8  # sequences stepped together; more wait for a free place
    # An idle engine waits this long for company before a prefill (not when the batch fills
    # first): a class submitting together is judged in the meantime and then prefilled as one
    # batch (docs/BENCHMARKS.md, the classroom: 30 -> 250 ms, measured one change at a time).
    generation_batch_wait_ms: float = 250.0
    # ...counted from the latest arrival, so a class judged over half a second is prefilled together,
    # but never longer than this after the first.
    generation_batch_wait_max_ms: float = 1000.0
    generation_max_prompt_tokens: int = 1024  # longer prompts are shortened (the code first)
    # Niceness of the generation thread (Linux): the judge and the API go before the model for CPU.
    generation_nice: int = 10
    # local: the in-process model above. openai: an OpenAI-compatible server (vLLM, TGI, llama.cpp
    # server) at generation_api_url, streamed the same way.
    generation_backend: Literal["local", "openai"] = "local"
    generation_api_url: str | None = None  # e.g. http://vllm:8000/v1
    generation_api_key: SecretStr | None = None
    generation_api_model: str | None = None  # the model name the server knows
    generation_api_timeout_seconds: float = 30.0

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
    # Analyses run at once by this process (0: none, e.g. API replicas beside `codepattern worker`).
    # Their model prose shares one batch, so this is about generation_max_batch.
    analysis_workers: int = 8
    analysis_per_learner: int = 1  # a learner's analyses running at once; the rest wait their turn
    analysis_max_attempts: int = 3  # a job interrupted this often is failed, not retried
    analysis_lease_seconds: float = 60.0  # a dead worker's job is picked up again after this
    analysis_poll_seconds: float = 2.0  # fallback when LISTEN/NOTIFY is unavailable (poolers)
    max_code_chars: int = 20_000
    # How analysis events reach subscribers. memory: this process only. postgres: LISTEN/NOTIFY,
    # so any API process streams what any worker runs. auto: postgres unless the pooler cannot LISTEN.
    event_bus: Literal["auto", "memory", "postgres"] = "auto"
    # API processes run by `codepattern serve` (uvicorn workers); >1 needs a shared database.
    web_workers: int = 1
    # `serve` freezes what start-up built and enlarges the collector's young generation
    # (app/gc_tuning.py); false leaves CPython's defaults.
    gc_tuning: bool = True

    @property
    def pgdata_dir(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "model-cache"

    @property
    def jwt_secret_file(self) -> Path:
        return self.data_dir / "jwt-secret"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment and `.env`; `overrides` (e.g. command-line flags) win."""
    return Settings(**overrides)  # type: ignore[arg-type]
