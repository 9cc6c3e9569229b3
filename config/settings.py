"""The one typed settings object. This module is the only reader of the environment.

Every variable of ``CONTRACT.md`` lives here, read from the process environment and from a
``.env`` file in the working directory. A missing or invalid value raises
:class:`SettingsError`, whose message is one line naming the variable. The checks the validators
call, and that one line, are in :mod:`config.checks`.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

from config.checks import check_crontab, is_loopback_url, kombu_transports, one_line, secret_values, shown
from config.redact import remember_secrets, scrub

SANDBOX_URL = "http://127.0.0.1:8780"
SANDBOX_API_KEY = "sandbox-key"
SANDBOX_COPY_JOB_ID = "M48401"
SANDBOX_MIGRATION_JOB_ID = "M48402"
SANDBOX_PROFILE_JOB_ID = "M48403"
SANDBOX_HANDLE_SERVER_AUTH_ID = "300:0.NA/11084"
SANDBOX_HANDLE_SERVER_SECRET = "sandbox-handle-secret"
# HANDLE_SERVER_URL=none: no Handle server of the institution's own (Alma hosts its handles)
NO_HANDLE_SERVER = "none"
SANDBOX_TARGET_TEMPLATE = SANDBOX_URL + "/discovery/fulldisplay/alma{mms_id}/01GCL_INST:GCL"

_JOB_ID = re.compile(r"^[MSO]\d+$")
_PREFIX = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.]*$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_VERIFY_SCHEDULE = "0 2 * * *"


class SettingsError(ValueError):
    """A setting is missing or invalid. ``str()`` is one line naming the variable."""


class JobParameter(BaseModel):
    """One ``{"name": …, "value": …}`` task parameter, as Alma's Run-a-job wizard shows it."""

    name: str
    value: str

    def as_alma(self) -> dict[str, Any]:
        return {"name": {"value": self.name}, "value": self.value}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # --- Alma -------------------------------------------------------------------------------
    alma_api_base_url: str = SANDBOX_URL
    alma_api_key: SecretStr | None = None
    alma_copy_job_id: str = SANDBOX_COPY_JOB_ID
    alma_migration_job_id: str = SANDBOX_MIGRATION_JOB_ID
    alma_profile_job_id: str = SANDBOX_PROFILE_JOB_ID
    alma_copy_job_parameters: list[JobParameter] = Field(default_factory=list)
    alma_migration_job_parameters: list[JobParameter] = Field(default_factory=list)
    alma_profile_job_parameters: list[JobParameter] = Field(default_factory=list)
    alma_profile_mode: Literal["auto", "api", "operator"] = "auto"
    alma_profile_name: str = "Persistent Handle Identifiers for Digital Resource"
    alma_keep_sets: bool = Field(
        False, description="keep the sets a run creates in Alma (the profile set) after the run is done"
    )
    alma_rate_limit: float = Field(25.0, gt=0, description="Alma requests per second, all workers together")
    alma_remaining_floor: int = Field(
        0, ge=0, description="pause Alma calls when X-Exl-Api-Remaining falls under this"
    )
    alma_timeout_seconds: float = Field(30.0, gt=0)
    alma_throttle_patience_seconds: float = Field(
        60.0, ge=0, description="how long to keep retrying Alma's per-second 429 before failing"
    )
    alma_max_api_jobs_running: int = Field(3, ge=1)
    alma_max_runs_per_job_hour: int = Field(5, ge=1)
    alma_batch_size: int | None = Field(
        None,
        ge=1,
        description="run a set as itemized batches of at most this many records (handles migrate "
        "--batch-size overrides it); none: the whole set at once",
    )

    # --- Handles ----------------------------------------------------------------------------
    handle_prefix: str = "11084"
    handle_resolver_url: str = SANDBOX_URL
    handle_target_template: str = SANDBOX_TARGET_TEMPLATE
    handle_server_url: str = SANDBOX_URL + "/handle-server"
    handle_server_auth_id: str = SANDBOX_HANDLE_SERVER_AUTH_ID
    handle_server_secret: SecretStr | None = None
    handle_server_cert: Path | None = None
    handle_server_key: Path | None = None
    handle_server_verify_tls: bool = True
    handle_server_allow_http: bool = Field(
        False, description="allow a plain-http HANDLE_SERVER_URL that is not loopback (compose's sandbox)"
    )
    handle_suffix_rule: Literal["opaque", "pid-datastream"] = "opaque"
    handle_pid_pattern: str = Field(
        r"^[A-Za-z][\w.-]*:(?P<suffix>\d+)$",
        description="regex with a 'suffix' group: how a PID such as grinnell:99 gives the handle suffix 99",
    )
    verify_concurrency: int = Field(8, ge=1, le=128)
    verify_rate_per_host: float = Field(50.0, gt=0)
    verify_timeout_seconds: float = Field(20.0, gt=0)
    verify_schedule: str = Field(
        DEFAULT_VERIFY_SCHEDULE, description="crontab for the nightly re-verification"
    )
    verify_slice_size: int = Field(500, ge=1)

    # --- Workers ----------------------------------------------------------------------------
    celery_broker_url: str | None = None
    database_url: str = "sqlite:///var/handles.db"
    redis_url: str | None = Field(
        None, description="Redis for shared limits; defaults to the broker if Redis"
    )
    poll_min_seconds: float = Field(5.0, gt=0)
    poll_max_seconds: float = Field(60.0, gt=0)
    # Alma's JOB_END webhook (handles webhook): the integration profile's secret, and how often a
    # step is still polled when the webhook is configured (Alma retries a failed delivery only
    # after hours, so polling stays as the fallback)
    alma_webhook_secret: SecretStr | None = None
    webhook_fallback_poll_seconds: float = Field(600.0, gt=0)
    step_deadline_hours: float = Field(24.0, gt=0)
    stall_seconds: float = Field(300.0, gt=0, description="a run without progress this long is resumed")
    resume_interval_seconds: float = Field(
        60.0, gt=0, description="how often beat sends handles.resume_stalled (tests shorten it)"
    )
    flower_basic_auth: SecretStr | None = Field(
        None,
        description="user:password[,user2:password2] for Flower; flowerconfig.py refuses to start without",
    )
    log_level: str = "INFO"

    # --- The web page (handles web) ---------------------------------------------------------
    handles_web_auth: SecretStr | None = Field(
        None, description="user:password for `handles web`; the page refuses to start without it"
    )
    handles_timezone: str | None = Field(
        None, description="the time zone operators read times in, e.g. America/Chicago; default the machine's"
    )

    @field_validator("alma_copy_job_id", "alma_migration_job_id", "alma_profile_job_id")
    @classmethod
    def _job_id(cls, value: str) -> str:
        value = value.strip()
        if not _JOB_ID.match(value):
            raise ValueError(f"{value!r} is not an Alma job id such as M12345")
        return value

    @field_validator(
        "alma_copy_job_parameters",
        "alma_migration_job_parameters",
        "alma_profile_job_parameters",
        mode="before",
    )
    @classmethod
    def _parameters(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else []
        if not isinstance(value, list):
            raise ValueError('expected a JSON list of {"name": …, "value": …}')
        out = []
        for item in value:
            if isinstance(item, dict) and isinstance(item.get("name"), dict):  # Alma's own shape
                item = {"name": item["name"].get("value"), "value": item.get("value")}
            if isinstance(item, dict) and item.get("name") in {"set_id", "job_name"}:
                raise ValueError(f"{item['name']} is added by the system; leave it out")
            out.append(item)
        return out

    @field_validator("alma_api_base_url", "handle_resolver_url", "handle_server_url")
    @classmethod
    def _url(cls, value: str, info: Any) -> str:
        value = value.strip().rstrip("/")
        if info.field_name == "handle_server_url" and value.lower() == NO_HANDLE_SERVER:
            return NO_HANDLE_SERVER  # Alma (Ex Libris) hosts the institution's handles
        if not re.match(r"^https?://[^/\s]+", value):
            other = (
                " (or none: Ex Libris hosts your handles)" if info.field_name == "handle_server_url" else ""
            )
            raise ValueError(f"{shown(value)} is not an http(s) URL{other}")
        if value.endswith("/almaws/v1"):
            value = value[: -len("/almaws/v1")]
        return value

    @field_validator("handle_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip().strip("/")
        if not _PREFIX.match(value):
            raise ValueError(f"{value!r} is not a handle prefix such as 11084 or 20.500.14725")
        return value

    @field_validator("handle_target_template")
    @classmethod
    def _template(cls, value: str) -> str:
        if "{mms_id}" not in value:
            raise ValueError("must contain {mms_id}")
        return value

    @field_validator("handles_timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name such as America/Chicago") from None
        return value.strip()

    @field_validator("handle_pid_pattern")
    @classmethod
    def _pid_pattern(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if "suffix" not in compiled.groupindex:
            raise ValueError("needs a named group (?P<suffix>…)")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        level = "WARNING" if level == "WARN" else level
        if level not in LOG_LEVELS:
            raise ValueError(f"{shown(value)} is not a log level: use one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("verify_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        value = " ".join(value.split())
        if value != DEFAULT_VERIFY_SCHEDULE:
            check_crontab(value)
        return value

    @field_validator("celery_broker_url", "redis_url")
    @classmethod
    def _broker(cls, value: str | None, info: Any) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        redis_only = info.field_name == "redis_url"
        for url in value.split(";"):  # kombu's failover form: url1;url2
            scheme, sep, _ = url.strip().partition("://")
            transport = scheme.split("+", 1)[0]
            if redis_only and scheme.lower() not in ("redis", "rediss", "unix"):
                raise ValueError(f"{shown(url)} is not a Redis URL such as redis://host:6379/0")
            if not redis_only and (not sep or transport not in kombu_transports()):
                raise ValueError(
                    f"{shown(url)} is not a broker URL Celery knows: use redis://host:6379/0 "
                    "(or rediss://, amqp://, sqla+…)"
                )
        return value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        value = value.strip()
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value)
        except (ArgumentError, ValueError):
            raise ValueError(
                f"{shown(value)} is not a database URL such as postgresql+psycopg://host/db"
            ) from None
        return value

    @field_validator("alma_batch_size", mode="before")
    @classmethod
    def _no_batches(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() in ("", "none") else value

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        if self.alma_api_key is None or not self.alma_api_key.get_secret_value().strip():
            if self.uses_sandbox_alma:
                self.alma_api_key = SecretStr(SANDBOX_API_KEY)
            else:
                raise ValueError("ALMA_API_KEY is required when ALMA_API_BASE_URL is not the sandbox")
        if (
            self.handle_server_url.lower().startswith("http://")
            and not self.handle_server_allow_http
            and not is_loopback_url(self.handle_server_url)
        ):
            raise ValueError("HANDLE_SERVER_URL use https:// (a Handle server ignores credentials over http)")
        if self.handle_server_secret is None and self.handle_server_url.startswith(SANDBOX_URL):
            self.handle_server_secret = SecretStr(SANDBOX_HANDLE_SERVER_SECRET)
        if self.poll_max_seconds < self.poll_min_seconds:
            raise ValueError("POLL_MAX_SECONDS is less than POLL_MIN_SECONDS")
        return self

    @property
    def has_own_handle_server(self) -> bool:
        """False when ``HANDLE_SERVER_URL=none``: Ex Libris hosts the handles; conflicts are a case for them."""
        return self.handle_server_url != NO_HANDLE_SERVER

    @property
    def uses_sandbox_alma(self) -> bool:
        return self.alma_api_base_url.startswith(SANDBOX_URL)

    def job_id(self, step: str) -> str:
        return {
            "copy": self.alma_copy_job_id,
            "migration": self.alma_migration_job_id,
            "profile": self.alma_profile_job_id,
        }[step]

    def job_parameters(self, step: str) -> list[JobParameter]:
        return {
            "copy": self.alma_copy_job_parameters,
            "migration": self.alma_migration_job_parameters,
            "profile": self.alma_profile_job_parameters,
        }[step]

    def target_url(self, mms_id: str) -> str:
        return self.handle_target_template.replace("{mms_id}", mms_id)

    def timezone(self) -> tzinfo:
        """The operators' time zone: ``HANDLES_TIMEZONE``, else the machine's local zone."""
        if self.handles_timezone:
            return ZoneInfo(self.handles_timezone)
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment (and ``overrides``); one-line :class:`SettingsError` if bad."""
    try:
        loaded = Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(scrub(one_line(exc), limit=300)) from None
    except PydanticSettingsError as exc:  # pydantic-settings decodes list values as JSON itself
        field = re.search(r'field "(\w+)"', str(exc))
        name = field.group(1).upper() if field else "a setting"
        raise SettingsError(f"{name}: not valid JSON") from None
    remember_secrets(secret_values(loaded))
    return loaded


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached). Tests call ``get_settings.cache_clear()`` after changing env."""
    return load_settings()


def load_or_exit(program: str = "handles") -> Settings:
    """The settings; a bad one prints one line naming the variable and exits with status 2.

    For process start-up (``celery -A workers.app worker|beat``): call it before anything else
    reads the settings, so an operator sees ``worker: setting LOG_LEVEL: …`` and not a traceback.
    """
    try:
        return get_settings()
    except SettingsError as exc:
        print(f"{program}: setting {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
