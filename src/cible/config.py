"""Settings, read once from ``CIBLE_*`` environment variables and an optional ``.env`` file.

Every field here is documented in ``docs/settings.md``; ``tests/test_docs.py`` fails when one
is not, so a setting cannot ship without its line in that table.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration of the server, the worker and the CLI."""

    model_config = SettingsConfigDict(env_prefix="CIBLE_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./cible.db",
        description="SQLAlchemy URL; postgresql+psycopg://user:pass@host/db for PostgreSQL.",
    )
    secret_key: str | None = Field(
        default=None,
        min_length=32,
        description=(
            "Key that signs access tokens (HS256), overriding the random keys `cible migrate` "
            "stores; unset by default."
        ),
    )
    token_ttl_seconds: int = Field(
        default=86_400, gt=0, description="Lifetime of an access token from /ims/token/v3."
    )
    auth_token_ttl_seconds: int = Field(
        default=86_400,
        gt=0,
        description=(
            "Lifetime of a Profile API or debug token from /{tenant}/target/authentication/token."
        ),
    )
    max_page_size: int = Field(
        default=1000, gt=0, description="Largest `limit` a list returns; larger limits are clamped."
    )
    default_page_size: int = Field(
        default=10, gt=0, description="`limit` applied when a list request gives none."
    )
    max_body_bytes: int = Field(
        default=1_048_576, gt=0, description="Largest request body accepted; larger bodies get 413."
    )
    throttle_rate: float = Field(
        default=50.0, gt=0, description="Admin API requests per second allowed per API client."
    )
    throttle_burst: int = Field(
        default=257,
        gt=0,
        description=(
            "Admin API requests an API client may make in one burst; a batch takes one per "
            "operation plus one, so the default admits one 256-operation batch."
        ),
    )
    token_throttle_rate: float = Field(
        default=1.0,
        gt=0,
        description="Token requests per second allowed per client id at /ims/token/v3.",
    )
    token_throttle_burst: int = Field(
        default=10, gt=0, description="Token requests a client id may make in one burst."
    )
    max_learned_mboxes: int = Field(
        default=10_000,
        ge=0,
        description="Mbox names a tenant's delivery traffic may add to the Admin API's list.",
    )
    max_learned_profile_attributes: int = Field(
        default=1_000,
        ge=0,
        description="Profile attribute names a tenant's delivery traffic may add.",
    )
    max_learned_mbox_parameters: int = Field(
        default=100, ge=0, description="Parameter names recorded per mbox from delivery traffic."
    )
    session_timeout_seconds: int = Field(
        default=1800, gt=0, description="Idle seconds before a visitor's next call is a new visit."
    )
    delivery_environment: str = Field(
        default="production", description="Environment whose artifact the delivery API serves."
    )
    database_deadline_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How long a delivery write waits for a locked database before a 503.",
    )
    decision_cache_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Bytes of session decisions each server process caches (LRU).",
    )
    visitor_cache_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Bytes of visitor state each server process caches (LRU by visitor).",
    )
    geoip_database: str | None = Field(
        default=None,
        description=(
            "Path of a MaxMind City database (.mmdb) that resolves context.geo from the "
            "visitor's IP address; unset, geo comes only from the request."
        ),
    )
    event_retention_hours: float = Field(
        default=168,
        gt=0,
        description="Hours an event log record is kept once every consumer has applied it.",
    )
    log_level: str = Field(default="INFO", description="Log level of the JSON logs on stderr.")
    host: str = Field(default="127.0.0.1", description="Address `cible serve` binds by default.")
    port: int = Field(default=8080, description="Port `cible serve` binds by default.")
    dcs_domain: str = Field(
        default="demdex.localhost",
        description="DCS domain: a call to <client code>.<domain>/event is that tenant's.",
    )
    dcs_region: int = Field(default=7, ge=0, description="`dcs_region` the DCS reports.")
    dcs_throttle_rate: float = Field(
        default=5000.0, gt=0, description="DCS calls per second allowed per tenant and process."
    )
    dcs_throttle_burst: int = Field(
        default=10_000, gt=0, description="DCS calls a tenant may make in one burst."
    )
    dmp_inbound_dir: str = Field(
        default="",
        description=(
            "Folder or fsspec URL (s3://…, sftp://…) whose ftp_dpm_ onboarding and adobe_id_ "
            "ID-sync files are imported every 5 minutes."
        ),
    )
    dmp_inbound_options: str = Field(
        default="",
        description="JSON object of fsspec options for CIBLE_DMP_INBOUND_DIR (endpoint, user…).",
    )
    dmp_export_local_root: str = Field(
        default="",
        description=(
            "Folder under which batch file destinations may use file:// locations; unset, "
            "local folders are refused."
        ),
    )
    dmp_export_work_dir: str = Field(
        default="",
        description=(
            "Folder of the batch exports' Parquet snapshots, kept until a run is done "
            "(default: <temp>/cible-export)."
        ),
    )
    batch_engine: str = Field(
        default="duckdb",
        description="Engine that computes batch file exports from their snapshots: duckdb, spark.",
    )
    spark_master: str = Field(
        default="local[2]",
        description="Spark master the spark batch engine uses (local[N] or a cluster URL).",
    )
    spark_driver_memory: str = Field(
        default="4g",
        pattern=r"^[1-9][0-9]*[kmgt]$",
        description="Memory of the spark batch engine's driver JVM, which reads the rows back.",
    )
    dmp_s2s_window_seconds: int = Field(
        default=1,
        ge=1,
        le=3600,
        description="Seconds the changes for real-time destinations are gathered before sending.",
    )
    outbound_allowed_networks: str = Field(
        default="",
        description=(
            "Comma-separated networks (CIDR) outbound calls may reach although private, "
            "loopback or link-local, e.g. 127.0.0.1/32 for a partner on this host."
        ),
    )
    ui_session_ttl_seconds: int = Field(
        default=28_800, gt=0, description="Seconds an admin web UI sign-in lasts (absolute)."
    )
    ui_secure_cookies: Literal["auto", "always", "never"] = Field(
        default="auto",
        description=(
            "Secure flag of the UI's cookies: auto (when served over https), always, never."
        ),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
