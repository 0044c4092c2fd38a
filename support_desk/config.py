"""Configuration: one typed object, read from the environment (and `.env`) at startup.

Every value has a default, or `load_settings()` raises a `ConfigError` whose one-line
message names the variable to set. An empty value (`FOO=` in `.env`, a blanked line) counts as
unset: the default applies, and a required setting says it is not set. Secrets are
`SecretStr`, so they never reach logs.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SLACK_API_URL = "https://slack.com/api/"
AUTO_WORKER_PROCESSES_MAX = 4
WORKER_PROCESSES_MAX = 64
_PRIORITIES = ("urgent", "high", "normal", "low")  # storage.tickets.PRIORITIES


class ConfigError(Exception):
    """A setting is missing or malformed. The message names the variable and what to do."""


# A Slack channel id: C… (public) or G… (older private channels); `_` for the local fakes'.
CHANNEL_ID = re.compile(r"[CG][A-Z0-9_]{2,}")


class Settings(BaseSettings):
    """Every setting of the desk. Field names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,  # one rule for every setting: empty is unset
    )

    # Slack
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = SLACK_API_URL
    support_channels: Annotated[list[str], NoDecode] = Field(default_factory=list)
    escalation_channel: str | None = None
    support_staff_group: str | None = None

    # Storage
    support_desk_db: Path = Path("./support_desk.db")
    # sqlite:///path/to/desk.db or postgresql://user:pass@host:5432/db; unset: SUPPORT_DESK_DB.
    database_url: str | None = None

    # Models
    model_provider: Literal["openai", "offline"] | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    triage_model: str = "gpt-4.1-mini"
    specialist_model: str = "gpt-4.1-mini"
    pipeline_model: str = "gpt-4.1"
    backup_model: str | None = None
    offline_fallback: bool = True
    model_timeout_s: float = Field(default=60.0, gt=0)
    max_turns: int = Field(default=10, ge=2, le=50)
    trace_sensitive_data: bool = False
    routing_mode: Literal["handoffs", "classifier"] = "handoffs"
    classifier_min_confidence: float = Field(default=0.6, ge=0, le=1)

    # Slash-command pipelines
    pipeline_max_per_user: int = Field(default=2, ge=1, le=100)
    research_max_iterations: int = Field(default=3, ge=1, le=10)
    debate_max_rounds: int = Field(default=5, ge=1, le=20)
    support_report_access: Literal["staff", "everyone"] = "staff"

    # Work
    workers: int = Field(default=64, ge=1, le=1000)
    worker_mode: Literal["process", "inline"] = "process"
    worker_processes: Annotated[int, Field(ge=1, le=WORKER_PROCESSES_MAX)] | Literal["auto"] = (
        "auto"
    )
    working_indicator_delay_s: float = Field(default=1.0, ge=0)
    stream_flush_ms: int = Field(default=700, ge=10, le=10_000)
    inbox_poll_ms: int = Field(default=20, ge=1, le=5000)
    history_turns: int = Field(default=8, ge=1, le=200)
    shutdown_grace_s: float = Field(default=20.0, ge=0)
    inbox_retention_days: int = Field(default=14, ge=1)
    escalation_remind_minutes: int = Field(default=30, ge=1)
    confirmation_ttl_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)

    # Staff desk
    ticket_emoji: str = Field(default="ticket", pattern=r"^:?[a-z0-9_+'-]{1,100}:?$")
    ticket_emoji_by_staff: Literal["answer", "queue"] = "answer"
    tickets_from_messages_per_hour: int = Field(default=10, ge=0, le=10_000)
    staff_reply_prefix: str = Field(default=">>", min_length=1, max_length=20)
    sla_first_response_minutes: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=lambda: {"urgent": 15.0, "high": 60.0, "normal": 240.0, "low": 480.0}
    )
    sla_resolution_hours: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=lambda: {"urgent": 4.0, "high": 8.0, "normal": 24.0, "low": 72.0}
    )
    sla_warning_percent: int = Field(default=80, ge=1, le=100)
    refund_approval_limit: Decimal = Field(default=Decimal("200.00"), ge=0, decimal_places=2)

    # Logs
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    log_sensitive_data: bool = False

    @field_validator("support_channels", mode="before")
    @classmethod
    def _split_channels(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("support_channels", "escalation_channel")
    @classmethod
    def _channel_ids(cls, value: list[str] | str | None) -> list[str] | str | None:
        """Channel ids (`C0123ABCD`), not names: a name such as `#support` would match no
        event, and the desk would stay silent there without a word."""
        for channel in [value] if isinstance(value, str) else value or []:
            if not CHANNEL_ID.fullmatch(channel):
                raise ValueError(
                    f"{channel!r} is not a channel id: use the id (like C0123ABCD), shown at"
                    " the bottom of the channel's details in Slack, not its name"
                )
        return value

    @field_validator("worker_processes", mode="before")
    @classmethod
    def _worker_processes(cls, value: object) -> object:
        """`auto` in any case, or a whole number in range. One message for every wrong value,
        naming both forms (pydantic's would be one per member of the union)."""
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        if re.fullmatch(r"[0-9]{1,3}", text) and 1 <= int(text) <= WORKER_PROCESSES_MAX:
            return int(text)
        raise ValueError(
            f"must be a number from 1 to {WORKER_PROCESSES_MAX}, or auto (one worker a core)"
        )

    @field_validator("ticket_emoji")
    @classmethod
    def _emoji_name(cls, value: str) -> str:
        return value.strip(":")

    @field_validator("sla_first_response_minutes", "sla_resolution_hours", mode="before")
    @classmethod
    def _per_priority(cls, value: object) -> object:
        """`urgent=15,high=60,normal=240,low=480`: a target per priority (others have none)."""
        if not isinstance(value, str):
            return value
        targets: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            name, _, number = part.partition("=")
            name = name.strip().lower()
            if name not in _PRIORITIES:
                raise ValueError(f"{name!r} is not a priority ({', '.join(_PRIORITIES)})")
            try:
                targets[name] = float(number)
            except ValueError:
                raise ValueError(f"{part!r} is not priority=number") from None
            if not 0 < targets[name] < 1e6:
                raise ValueError(f"{part!r}: the target must be a positive number")
        return targets

    @field_validator("staff_reply_prefix")
    @classmethod
    def _prefix_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be a visible prefix such as >>")
        return value.strip()

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL, e.g. https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(
                "must be sqlite:///path/to/desk.db or postgresql://user:password@host:port/db"
            )
        return value or None

    @property
    def database(self) -> str:
        """Where the desk's data lives: DATABASE_URL, else the SQLite file SUPPORT_DESK_DB."""
        return self.database_url or str(self.support_desk_db)

    @property
    def provider(self) -> Literal["openai", "offline"]:
        """The model provider in force: explicit, else OpenAI when a key is set, else offline."""
        if self.model_provider:
            return self.model_provider
        return "openai" if self.openai_api_key or self.openai_base_url else "offline"

    def worker_process_count(self) -> int:
        """How many `support-desk work` children `serve` starts: WORKER_PROCESSES, or with
        "auto" one for each core this process may run on, at most `AUTO_WORKER_PROCESSES_MAX`
        (the agents' work is CPU-bound Python, so one process uses one core at most)."""
        if self.worker_processes != "auto":
            return self.worker_processes
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return max(1, min(cores or 1, AUTO_WORKER_PROCESSES_MAX))

    def require(self, *names: str, why: str) -> None:
        """Raise a ConfigError naming the first of `names` that is unset."""
        for name in names:
            if not getattr(self, name):
                raise ConfigError(f"{name.upper()} is not set: it is needed {why}.")


def load_settings(**overrides: object) -> Settings:
    """Read the settings; a bad value becomes one ConfigError line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "configuration"
        problem = first["msg"].removeprefix("Value error, ")  # our validators' own words
        raise ConfigError(f"{name} is invalid: {problem}") from None
