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


class AlphaParams(BaseModel):
    """Alpha agent: mean-reversion and trend-following setups (docs/agents.md)."""

    rsi_oversold: float = Field(30.0, ge=0, le=100)
    rsi_overbought: float = Field(70.0, ge=0, le=100)
    trend_rsi_low: float = Field(40.0, ge=0, le=100, description="Pullback RSI band, low end.")
    trend_rsi_high: float = Field(65.0, ge=0, le=100, description="Pullback RSI band, high end.")
    pullback_atr: float = Field(0.5, ge=0, description="Low within this many ATR of EMA 20.")
    stop_atr: float = Field(1.5, gt=0, description="Stop distance in ATR.")
    swing_buffer_atr: float = Field(0.25, ge=0, description="Stop beyond the swing by this.")
    max_stop_atr: float = Field(4.0, gt=0, description="A wider stop means HOLD.")
    min_reward_risk: float = Field(2.5, gt=0, description="Minimum target distance in R.")
    default_reward_risk: float = Field(3.0, gt=0, description="Target in R with no level.")
    level_buffer_atr: float = Field(0.1, ge=0, description="Target this far short of a level.")


class TechnicalParams(BaseModel):
    """Technical agent: trend state, levels, Fibonacci, patterns."""

    adx_trend: float = Field(25.0, ge=0, le=100, description="ADX at or above: trending.")
    double_tolerance_atr: float = Field(0.5, ge=0, description="Double top/bottom tolerance.")
    bias_threshold: float = Field(
        0.3, ge=0, le=1, description="Bullish/bearish when the score is beyond +/- this."
    )


class SentimentParams(BaseModel):
    """Sentiment agent: the market-data fear/greed composite (and optionally the public index)."""

    lookback: int = Field(90, ge=10, le=2000, description="Bars for percentiles/drawdown.")
    min_components: int = Field(
        3, ge=1, le=4, description="Sub-scores (of 4) needed for the market composite."
    )
    extreme_fear: float = Field(20.0, ge=0, le=100)
    fear: float = Field(40.0, ge=0, le=100)
    greed: float = Field(60.0, ge=0, le=100)
    extreme_greed: float = Field(80.0, ge=0, le=100)
    use_fear_greed_index: bool = Field(
        False, description="Query the public Fear & Greed index (needs network)."
    )
    fear_greed_url: str = "https://api.alternative.me/fng/"


class MacroParams(BaseModel):
    """Macro agent: BTC regime, volatility percentile, correlations, session."""

    benchmark: str = Field("BTC-USD", description="The symbol whose trend sets the regime.")
    vol_lookback: int = Field(500, ge=20, le=100_000, description="Bars for vol percentile.")
    high_vol_pct: float = Field(0.8, ge=0, le=1)
    low_vol_pct: float = Field(0.2, ge=0, le=1)
    corr_window: int = Field(30, ge=5, le=5000)
    vol_min_periods: int = Field(
        100, ge=2, le=100_000, description="Bars needed before the vol percentile is given."
    )


class ExecutionParams(BaseModel):
    """Execution auditor: costs per exchange profile, spread and slippage estimates."""

    taker_bps: dict[str, float] = Field(
        default_factory=lambda: {
            "coinbase": 60.0,
            "coinbaseexchange": 60.0,
            "kraken": 40.0,
            "binance": 10.0,
            "sample": 10.0,
            "file": 10.0,
        },
        description="Taker fee per exchange in basis points.",
    )
    maker_bps: dict[str, float] = Field(
        default_factory=lambda: {
            "coinbase": 40.0,
            "coinbaseexchange": 40.0,
            "kraken": 25.0,
            "binance": 10.0,
            "sample": 5.0,
            "file": 5.0,
        },
        description="Maker fee per exchange in basis points.",
    )
    default_taker_bps: float = Field(10.0, ge=0)
    spread_window: int = Field(20, ge=2, le=1000)
    impact_coefficient: float = Field(1.0, ge=0, description="Square-root impact multiplier.")
    max_cost_r: float = Field(0.25, ge=0, description="FAIL when round-trip cost exceeds this R.")
    max_cost_to_target: float = Field(0.2, ge=0, description="FAIL above this cost/reward.")
    vol_window: int = Field(
        20, ge=2, le=10_000, description="Bars for the per-bar volatility of the slippage model."
    )
    volume_window: int = Field(
        20, ge=1, le=10_000, description="Bars averaged for the typical bar notional volume."
    )
    grade_a_share: float = Field(0.001, ge=0, le=1, description="Order/bar notional below: A.")
    grade_b_share: float = Field(0.005, ge=0, le=1, description="Order/bar notional below: B.")
    grade_c_share: float = Field(0.02, ge=0, le=1, description="Order/bar notional below: C.")


class RationaleParams(BaseModel):
    """Rationale agent: the journal, including the setup's historical base rate."""

    outcome_horizon: int = Field(48, ge=1, le=10_000, description="Bars before a setup expires.")


class MotherParams(BaseModel):
    """The mother's three rounds: thresholds of the decision."""

    consensus_policy: Literal["weighted", "supermajority"] = Field(
        "weighted",
        description="weighted: consensus >= min_consensus; supermajority: two thirds of votes "
        "at > 70% confidence.",
    )
    min_expected_value_r: float = Field(1.0, description="Approve at or above this EV in R.")
    min_consensus: float = Field(0.6, ge=0, le=1)
    min_confidence: float = Field(0.55, ge=0, le=1)
    supermajority_share: float = Field(2 / 3, ge=0, le=1)
    supermajority_confidence: float = Field(0.7, ge=0, le=1)
    prior_win_rate: float = Field(0.45, gt=0, lt=1, description="Prior of the win probability.")
    prior_strength: float = Field(20.0, ge=0, description="Pseudo-trades behind the prior.")
    vote_adjustment: float = Field(0.2, ge=0, le=1, description="Max shift of p by the votes.")
    neutral_probability: float = Field(0.15, ge=0, lt=1, description="P(neither stop nor target).")
    kelly_fraction: float = Field(0.25, gt=0, le=1)
    extreme_volatility_pct: float = Field(
        0.95, ge=0, le=1, description="Volatility percentile flagged as high-severity risk."
    )
    medium_flag_penalty_r: float = Field(0.10, ge=0, description="EV deducted per medium flag.")
    low_flag_penalty_r: float = Field(0.05, ge=0, description="EV deducted per low flag.")
    macro_regime_weight: float = Field(
        0.6, ge=0, le=1, description="Weight of the macro vote in a risk-on/off regime."
    )
    macro_neutral_weight: float = Field(
        0.4, ge=0, le=1, description="Weight of the macro vote in a neutral regime."
    )


class RiskParams(BaseModel):
    """Guardian limits (code, not agents); a preset sets the prop-firm pair of limits."""

    preset: Literal["custom", "ftmo", "strict"] = Field(
        "custom", description="ftmo: 5% daily / 10% drawdown; strict: 4.5% / 9%."
    )
    risk_per_trade: float = Field(0.01, gt=0, le=0.1)
    daily_loss_limit: float = Field(0.05, gt=0, le=1)
    max_drawdown: float = Field(0.10, gt=0, le=1)
    max_open_positions: int = Field(3, ge=0, le=100)
    cooldown_bars: int = Field(6, ge=0, le=10_000)
    max_consecutive_losses: int = Field(3, ge=1, le=100)
    pause_bars: int = Field(24, ge=0, le=10_000, description="Bars paused after N losses.")
    max_signals_per_hour: int = Field(10, ge=0)
    max_signals_per_day: int = Field(50, ge=0)

    def limits(self) -> tuple[float, float]:
        """(daily loss limit, max drawdown) after applying the preset."""
        presets = {"ftmo": (0.05, 0.10), "strict": (0.045, 0.09)}
        return presets.get(self.preset, (self.daily_loss_limit, self.max_drawdown))


class PaperParams(BaseModel):
    """The paper account."""

    starting_equity: float = Field(100_000.0, gt=0)
    expiry_bars: int = Field(48, ge=1, le=100_000, description="Close a position after N bars.")


class DecisionParams(BaseModel):
    """How much history a decision reads."""

    window: int = Field(600, ge=50, le=100_000, description="Candles read for one decision.")
    gap_lookback: int = Field(
        50, ge=1, le=10_000, description="Bars before the decision bar checked for gaps."
    )
    max_recent_missing: int = Field(
        0, ge=0, description="Missing candles allowed in those bars before a trade is refused."
    )
    engine: Literal["rules"] = Field("rules", description="rules (LLM engine: not built yet).")


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
    kill_switch: bool = Field(False, description="HMAS_KILL_SWITCH=1 refuses every new trade.")
    decision: DecisionParams = Field(default_factory=DecisionParams)
    alpha: AlphaParams = Field(default_factory=AlphaParams)
    technical: TechnicalParams = Field(default_factory=TechnicalParams)
    sentiment: SentimentParams = Field(default_factory=SentimentParams)
    macro: MacroParams = Field(default_factory=MacroParams)
    execution: ExecutionParams = Field(default_factory=ExecutionParams)
    rationale: RationaleParams = Field(default_factory=RationaleParams)
    mother: MotherParams = Field(default_factory=MotherParams)
    risk: RiskParams = Field(default_factory=RiskParams)
    paper: PaperParams = Field(default_factory=PaperParams)

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

    def decision_config(self) -> dict[str, Any]:
        """The settings that change a decision (hashed into every signal's config hash)."""
        keys = (
            "decision",
            "alpha",
            "technical",
            "sentiment",
            "macro",
            "execution",
            "rationale",
            "mother",
            "risk",
            "paper",
        )
        data: dict[str, Any] = self.model_dump(mode="json", include=set(keys))
        # Throttles of the run loop are operational, not part of a decision's identity.
        for key in ("max_signals_per_hour", "max_signals_per_day"):
            data["risk"].pop(key, None)
        return data

    def config_hash(self) -> str:
        """Short stable hash of ``decision_config``."""
        import hashlib
        import json

        blob = json.dumps(self.decision_config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

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
