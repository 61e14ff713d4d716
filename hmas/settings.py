"""Configuration: one ``Settings`` from flags, environment, ``.env``, a TOML file and defaults.

Precedence, highest first: explicit overrides (CLI flags) > environment (``HMAS_…``, nested
with ``__``, e.g. ``HMAS_FETCH__RETRIES=6``) > ``.env`` in the working directory > the TOML
config file (``--config PATH``, else ``hmas.toml`` in the working directory) > defaults.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hmas.errors import ConfigError

DEFAULT_CONFIG_FILE = "hmas.toml"

# The TOML file for the Settings being built; a context variable because pydantic-settings
# builds its sources from the class, not the instance.
_config_file: ContextVar[Path | None] = ContextVar("hmas_config_file", default=None)


class FetchSettings(BaseModel):
    """How candles are fetched."""

    source: Literal["exchange", "sample", "file"] = Field(
        "exchange", description="Where candles come from by default."
    )
    exchange: str = Field("coinbase", description="ccxt exchange id for --source exchange.")
    timeframe: str = Field("1h", description="Default timeframe.")
    default_limit: int = Field(
        500, ge=1, le=1_000_000, description="Candles fetched when none are stored yet."
    )
    retries: int = Field(4, ge=0, le=20, description="Retries on rate limits and network errors.")
    backoff_seconds: float = Field(
        1.0, ge=0, le=300, description="First retry delay; doubles on each retry."
    )
    timeout_seconds: float = Field(30.0, gt=0, le=600, description="HTTP timeout per request.")

    @field_validator("timeframe")
    @classmethod
    def _known_timeframe(cls, value: str) -> str:
        from hmas.data.market import TIMEFRAMES

        if value not in TIMEFRAMES:
            raise ValueError(f"unsupported timeframe {value!r}; use one of {', '.join(TIMEFRAMES)}")
        return value


class ExchangeCredentials(BaseModel):
    """Optional API credentials; public market data needs none."""

    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None


class Settings(BaseSettings):
    """Every setting hmas reads, with its source precedence."""

    model_config = SettingsConfigDict(
        env_prefix="HMAS_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        validate_default=True,
    )

    db_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the store; default: SQLite file in the user data directory.",
    )
    data_dir: Path | None = Field(
        None, description="Directory for the default database and caches (platform default)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    exchange_credentials: ExchangeCredentials = Field(default_factory=ExchangeCredentials)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        path = _config_file.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    def resolved_data_dir(self) -> Path:
        """The data directory, created on demand."""
        if self.data_dir is not None:
            path = self.data_dir.expanduser()
        else:
            from platformdirs import user_data_path

            path = user_data_path("hmas", appauthor=False)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def resolved_db_url(self) -> str:
        """The store URL: ``db_url`` or the default SQLite file in the data directory."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.resolved_data_dir() / 'hmas.db'}"

    def public_dict(self) -> dict[str, Any]:
        """Settings as plain JSON-able data with every secret masked."""
        data: dict[str, Any] = self.model_dump(mode="json")
        _mask(self, data)
        data["db_url"] = mask_url(self.resolved_db_url()) if self.db_url else None
        return data


def _mask(model: BaseModel, data: dict[str, Any]) -> None:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            data[name] = "**********" if value.get_secret_value() else ""
        elif isinstance(value, BaseModel):
            _mask(value, data[name])


def mask_url(url: str) -> str:
    """Hide the password of a database URL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def config_file_for(path: Path | None) -> Path | None:
    """The TOML file to read: ``path`` (must exist) or ``hmas.toml`` in the working directory."""
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}; pass an existing TOML file")
        return path
    default = Path.cwd() / DEFAULT_CONFIG_FILE
    return default if default.is_file() else None


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build ``Settings`` (overrides are CLI flags, the highest precedence); ConfigError if bad."""
    import tomllib

    path = config_file_for(config)
    token = _config_file.set(path)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {_describe(exc)}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    finally:
        _config_file.reset(token)


def _describe(exc: ValidationError) -> str:
    """One line naming each bad setting the way a user sets it."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "settings"
        env = "HMAS_" + "__".join(str(p).upper() for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        parts.append(f"{loc} ({env}): {msg}")
    return "; ".join(parts)
