"""The one typed settings object. This module is the only reader of the environment.

Every variable of ``CONTRACT.md`` lives here, read from the process environment and from a
``.env`` file in the working directory. A missing or invalid value raises
:class:`SettingsError`, whose message is one line naming the variable.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

SANDBOX_URL = "http://127.0.0.1:8780"
SANDBOX_API_KEY = "sandbox-key"
SANDBOX_COPY_JOB_ID = "M48401"
SANDBOX_MIGRATION_JOB_ID = "M48402"
SANDBOX_PROFILE_JOB_ID = "M48403"
SANDBOX_HANDLE_SERVER_AUTH_ID = "300:0.NA/11084"
SANDBOX_HANDLE_SERVER_SECRET = "sandbox-handle-secret"
SANDBOX_TARGET_TEMPLATE = SANDBOX_URL + "/discovery/fulldisplay/alma{mms_id}/01GCL_INST:GCL"

_JOB_ID = re.compile(r"^[MSO]\d+$")
_PREFIX = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.]*$")


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
    alma_profile_mode: Literal["api", "operator"] = "api"
    alma_profile_name: str = "Persistent Handle Identifiers for Digital Resource"
    alma_rate_limit: float = Field(25.0, gt=0, description="Alma requests per second, all workers together")
    alma_remaining_floor: int = Field(
        0, ge=0, description="pause Alma calls when X-Exl-Api-Remaining falls under this"
    )
    alma_timeout_seconds: float = Field(30.0, gt=0)
    alma_max_api_jobs_running: int = Field(3, ge=1)
    alma_max_runs_per_job_hour: int = Field(5, ge=1)

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
    handle_suffix_rule: Literal["opaque", "pid-datastream"] = "opaque"
    handle_pid_pattern: str = Field(
        r"^[A-Za-z][\w.-]*:(?P<suffix>\d+)$",
        description="regex with a 'suffix' group: how a PID such as grinnell:99 gives the handle suffix 99",
    )
    verify_concurrency: int = Field(8, ge=1, le=128)
    verify_rate_per_host: float = Field(50.0, gt=0)
    verify_timeout_seconds: float = Field(20.0, gt=0)
    verify_schedule: str = Field("0 2 * * *", description="crontab for the nightly re-verification")
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
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
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

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        if self.alma_api_key is None or not self.alma_api_key.get_secret_value().strip():
            if self.uses_sandbox_alma:
                self.alma_api_key = SecretStr(SANDBOX_API_KEY)
            else:
                raise ValueError("ALMA_API_KEY is required when ALMA_API_BASE_URL is not the sandbox")
        if self.handle_server_secret is None and self.handle_server_url.startswith(SANDBOX_URL):
            self.handle_server_secret = SecretStr(SANDBOX_HANDLE_SERVER_SECRET)
        if self.poll_max_seconds < self.poll_min_seconds:
            raise ValueError("POLL_MAX_SECONDS is less than POLL_MIN_SECONDS")
        return self

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


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = [str(part) for part in err.get("loc", ()) if not isinstance(part, int)]
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if loc:
        return f"{loc[0].upper()}: {msg}"
    named = re.match(r"^([A-Z][A-Z_]+) (.*)$", msg)
    if named:
        return f"{named.group(1)}: {named.group(2)}"
    return f"invalid setting: {msg}"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment (and ``overrides``); one-line :class:`SettingsError` if bad."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None
    except PydanticSettingsError as exc:  # pydantic-settings decodes list values as JSON itself
        field = re.search(r'field "(\w+)"', str(exc))
        name = field.group(1).upper() if field else "a setting"
        raise SettingsError(f"{name}: not valid JSON") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached). Tests call ``get_settings.cache_clear()`` after changing env."""
    return load_settings()
