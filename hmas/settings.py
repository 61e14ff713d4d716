"""Configuration: one ``Settings`` from flags, environment, ``.env``, a TOML file and defaults.

Precedence, highest first: explicit overrides (CLI flags) > environment (``HMAS_…``, nested
with ``__``, e.g. ``HMAS_FETCH__RETRIES=6``) > ``.env`` in the working directory > the TOML
config file (``--config PATH``, else ``hmas.toml`` in the working directory) > defaults.
"""

from __future__ import annotations

import itertools
import os
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from hmas.errors import ConfigError, InvalidSettingsError

DEFAULT_CONFIG_FILE = "hmas.toml"

ENV_PREFIX = "HMAS_"
DOTENV_FILE = ".env"
# HMAS_* variables that are not settings by design: the CLI's --config variable, and the
# prefixes the test suite and CI use for their own knobs.
NOT_SETTINGS = ("HMAS_CONFIG",)
NOT_SETTINGS_PREFIXES = ("HMAS_TEST_", "HMAS_CI_")

# The parsed TOML file for the Settings being built; a context variable because
# pydantic-settings builds its sources from the class, not the instance.
_file_data: ContextVar[dict[str, Any] | None] = ContextVar("hmas_file_data", default=None)


#: The decision model: raised whenever the same views and settings would decide differently
#: (docs/agents.md, "Decision models"). From model 2 on it is part of a signal's decision config
#: and hash, so a signal of an earlier model is never taken for today's, and ``replay`` says
#: which model decided a stored signal.
#: 2: the win probability and EV from measured comparable setups. 3: the proposer (alpha) does
#: not vote, macro reads the market beyond the symbol, technical the higher timeframes. 4: an
#: "auto" segment on a long reach (over 2,400 bars: 1m, 5m, 15m at the defaults) is the reach
#: less 2,000 bars, not a sixth of it (decisions there start from other anchors). 5: the EV
#: and the scenario payoffs in R of the trade's risk budget (a stop-out at the modelled costs
#: and gap loses 1R, as the paper book and the backtest count), not of its stop distance.
DECISION_MODEL: Final[int] = 5


class Section(BaseModel):
    """A group of settings: unknown keys, nan/inf and booleans given for numbers are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_number(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic reads true as 1; for a limit or a count that is a typo, not a number.
        name = info.field_name
        if (
            isinstance(value, bool)
            and name is not None
            and cls.model_fields[name].annotation in (int, float)
        ):
            raise ValueError(f"expected a number, got {str(value).lower()}")
        return value


#: Units of a duration setting, in milliseconds.
DURATION_UNITS: dict[str, int] = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
#: The longest duration a setting accepts (about 30 years).
MAX_DURATION_MS = 10_950 * 86_400_000
#: The longest expiry (``risk.expiry``): a year.
MAX_EXPIRY_MS = 365 * 86_400_000

#: Settings that were replaced, and what replaced them: a config still giving one is refused
#: with a message naming the new setting rather than a guess at the nearest name.
REPLACED: dict[tuple[str, ...], str] = {
    ("paper", "expiry_bars"): "risk.expiry",
    ("rationale", "outcome_horizon"): "risk.expiry",
}
_REPLACED_HINT = {
    "risk.expiry": 'a duration such as "48h" (bars = ceil(expiry / bar length))',
}


def upgrade_stored_config(config: dict[str, Any], timeframe: str) -> dict[str, Any]:
    """A decision config stored by an earlier hmas, its replaced settings translated.

    ``rationale.outcome_horizon`` (and ``paper.expiry_bars``, kept equal to it) counted bars of
    the analysis' timeframe; they become ``risk.expiry``, the same span as a duration, so an
    old signal still loads and replays. A config without them is returned unchanged.
    """
    from hmas.market import timeframe_ms

    paper, rationale = dict(config.get("paper") or {}), dict(config.get("rationale") or {})
    bars = rationale.pop("outcome_horizon", None)
    expiry_bars = paper.pop("expiry_bars", None)
    bars = expiry_bars if bars is None else bars
    if bars is None:
        return config
    span = int(bars) * timeframe_ms(timeframe)
    unit = next(u for u in ("d", "h", "m") if span % DURATION_UNITS[u] == 0)
    risk = {"expiry": f"{span // DURATION_UNITS[unit]}{unit}", **(config.get("risk") or {})}
    return {**config, "paper": paper, "rationale": rationale, "risk": risk}


def duration_ms(text: str) -> int:
    """Milliseconds in a duration such as ``30d``, ``12h``, ``2w`` or ``90m``; ValueError if not."""
    value = text.strip().lower()
    number, unit = value[:-1], value[-1:]
    if unit not in DURATION_UNITS or not (number.isascii() and number.isdigit()):
        raise ValueError(
            f"expected a duration such as 30d, 12h, 2w or 90m (a whole number and one of "
            f"{', '.join(DURATION_UNITS)}), got {text!r}"
        )
    ms = int(number) * DURATION_UNITS[unit]
    if not 0 < ms <= MAX_DURATION_MS:
        raise ValueError(f"must be above 0 and at most 10950d, got {text!r}")
    return ms


def _ordered(model: BaseModel, *names: str) -> None:
    """Raise unless the named settings are in non-decreasing order."""
    values = [getattr(model, n) for n in names]
    for i in range(len(names) - 1):
        if values[i] > values[i + 1]:
            raise ValueError(
                f"{names[i]} ({values[i]}) must not be above {names[i + 1]} ({values[i + 1]})"
            )


class FetchSettings(Section):
    """How candles are fetched."""

    source: Literal["exchange", "sample", "file"] = Field(
        "exchange", description="Where candles come from by default."
    )
    exchange: str = Field(
        "coinbase", min_length=1, description="ccxt exchange id for --source exchange."
    )
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
        from hmas.market import TIMEFRAMES

        if value not in TIMEFRAMES:
            raise ValueError(f"unsupported timeframe {value!r}; use one of {', '.join(TIMEFRAMES)}")
        return value


class AlphaParams(Section):
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

    @model_validator(mode="after")
    def _bands_in_order(self) -> Self:
        _ordered(self, "rsi_oversold", "rsi_overbought")
        _ordered(self, "trend_rsi_low", "trend_rsi_high")
        return self


class TechnicalParams(Section):
    """Technical agent: trend state, levels, Fibonacci, patterns."""

    adx_trend: float = Field(25.0, ge=0, le=100, description="ADX at or above: trending.")
    double_tolerance_atr: float = Field(0.5, ge=0, description="Double top/bottom tolerance.")
    bias_threshold: float = Field(
        0.3, ge=0, le=1, description="Bullish/bearish when the score is beyond +/- this."
    )
    higher_timeframes: list[str] = Field(
        default_factory=lambda: ["4h", "1d"],
        description="Higher timeframes whose closed bars the trend reads (those that are whole "
        "multiples above the decision's timeframe); [] for none.",
    )
    higher_sma: int = Field(
        20, ge=2, le=1000, description="Closed higher-timeframe bars in the trend's SMA."
    )

    @field_validator("higher_timeframes")
    @classmethod
    def _known_timeframes(cls, value: list[str]) -> list[str]:
        from hmas.market import TIMEFRAMES

        for item in value:
            if item not in TIMEFRAMES:
                raise ValueError(
                    f"unsupported timeframe {item!r}; use one of {', '.join(TIMEFRAMES)}"
                )
        if len(set(value)) != len(value):
            raise ValueError(f"lists a timeframe twice: {value}")
        return value


class SentimentParams(Section):
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
    fear_greed_url: str = Field("https://api.alternative.me/fng/", min_length=1)

    @model_validator(mode="after")
    def _zones_in_order(self) -> Self:
        _ordered(self, "extreme_fear", "fear", "greed", "extreme_greed")
        return self


class MacroParams(Section):
    """Macro agent: the market's regime (breadth, benchmark stress), volatility, correlations."""

    benchmark: str = Field(
        "BTC-USD",
        min_length=1,
        description="The market's benchmark: one of the market's symbols; its volatility can "
        "turn the regime risk-off.",
    )
    vol_lookback: int = Field(500, ge=20, le=100_000, description="Bars for vol percentile.")
    high_vol_pct: float = Field(0.8, ge=0, le=1)
    low_vol_pct: float = Field(0.2, ge=0, le=1)
    corr_window: int = Field(30, ge=5, le=5000)
    vol_min_periods: int = Field(
        100, ge=2, le=100_000, description="Bars needed before the vol percentile is given."
    )
    trend_window: int = Field(
        200,
        ge=2,
        le=100_000,
        description="Bars in the average each market symbol's close is compared with (breadth).",
    )


class ExecutionParams(Section):
    """Execution auditor: costs per exchange profile, spread and slippage estimates."""

    taker_bps: dict[str, Annotated[float, Field(ge=-100, le=1000)]] = Field(
        default_factory=lambda: {
            "coinbase": 60.0,
            "coinbaseexchange": 60.0,
            "kraken": 40.0,
            "binance": 10.0,
            "sample": 10.0,
            "file": 10.0,
        },
        description="Taker fee per exchange in basis points (negative: a rebate).",
    )
    maker_bps: dict[str, Annotated[float, Field(ge=-100, le=1000)]] = Field(
        default_factory=lambda: {
            "coinbase": 40.0,
            "coinbaseexchange": 40.0,
            "kraken": 25.0,
            "binance": 10.0,
            "sample": 5.0,
            "file": 5.0,
        },
        description="Maker fee per exchange in basis points (negative: a rebate).",
    )
    default_taker_bps: float = Field(10.0, ge=0, le=1000)
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

    @field_validator("taker_bps", "maker_bps")
    @classmethod
    def _exchange_ids_lowercase(cls, value: dict[str, float]) -> dict[str, float]:
        # Costs are looked up by the lower-case ccxt id; "Coinbase" would never match.
        lowered = {k.strip().lower(): v for k, v in value.items()}
        if len(lowered) != len(value):
            raise ValueError("an exchange is given twice (ids are case-insensitive)")
        if "" in lowered:
            raise ValueError("an exchange id is empty")
        return lowered

    @model_validator(mode="after")
    def _grades_in_order(self) -> Self:
        _ordered(self, "grade_a_share", "grade_b_share", "grade_c_share")
        return self


class RationaleParams(Section):
    """Rationale agent: the journal, including the setup's historical base rate."""

    base_rate_lookback: str = Field(
        "30d",
        description="How far back the base rate counts setups: a duration such as 30d, 12h, "
        "2w or 90m (setups opened at most this long before the bar, resolved by it).",
    )

    base_rate_cutoff: datetime | None = Field(
        None,
        description="Walk-forward: from this time (UTC) on, the base rate is frozen at what "
        "was known before it (setups opened at most base_rate_lookback before it, resolved on "
        "a bar opening before it). None: the base rate moves with every bar.",
    )

    reward_risk_buckets: list[float] = Field(
        [3.0, 4.0, 6.0],
        description="Edges of the reward/risk buckets the base rate groups setups by "
        "(with the setup and its direction): [3, 4, 6] gives <3R, 3-4R, 4-6R, >=6R.",
    )

    @field_validator("base_rate_lookback")
    @classmethod
    def _lookback_is_a_duration(cls, value: str) -> str:
        duration_ms(value)
        return value.strip().lower()

    @field_validator("base_rate_cutoff")
    @classmethod
    def _cutoff_in_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def cutoff_ms(self) -> int | None:
        """``base_rate_cutoff`` in epoch ms (None when not set)."""
        cutoff = self.base_rate_cutoff
        return None if cutoff is None else int(cutoff.timestamp() * 1000)

    @field_validator("reward_risk_buckets", mode="before")
    @classmethod
    def _no_bool_edge(cls, value: Any) -> Any:
        if isinstance(value, list) and any(isinstance(v, bool) for v in value):
            raise ValueError(f"bucket edges must be numbers, got {value}")
        return value

    @field_validator("reward_risk_buckets")
    @classmethod
    def _increasing_edges(cls, value: list[float]) -> list[float]:
        if any(edge <= 0 for edge in value):
            raise ValueError(f"bucket edges must be above 0, got {value}")
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError(f"bucket edges must be strictly increasing, got {value}")
        return value


class MotherParams(Section):
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
    prior_strength: float = Field(
        20.0,
        ge=0,
        description="Pseudo-trades of the no-edge prior (0R after costs) the measured payoffs "
        "of a setup are shrunk toward.",
    )
    prior_win_rate: float = Field(
        0.45, description="No longer read (the prior is the no-edge rate of each trade)."
    )
    vote_adjustment: float = Field(
        0.2, description="No longer read (the votes did not improve the probability)."
    )
    neutral_probability: float = Field(
        0.15, description="No longer read (expiries are measured with the base rate)."
    )
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

    @field_validator("prior_win_rate", "vote_adjustment", "neutral_probability")
    @classmethod
    def _not_read(cls, value: float, info: ValidationInfo) -> float:
        # Stored configurations of past signals carry the old defaults: they still load (for
        # replay); any other value would be silently ignored, so it is refused.
        old = {"prior_win_rate": 0.45, "vote_adjustment": 0.2, "neutral_probability": 0.15}
        name = str(info.field_name)
        if value != old[name]:
            why = {
                "prior_win_rate": "the win probability is shrunk toward the no-edge rate of "
                "each trade, 1 / (1 + reward/risk), with mother.prior_strength",
                "vote_adjustment": "the votes no longer shift the win probability (they did not "
                "improve its out-of-sample Brier score); consensus is still a check",
                "neutral_probability": "expiries are measured with the base rate, at what they "
                "paid",
            }[name]
            raise ValueError(f"mother.{name} is no longer used: {why}; remove mother.{name}")
        return value


PRESETS: dict[str, tuple[float, float]] = {"ftmo": (0.05, 0.10), "strict": (0.045, 0.09)}


class RiskParams(Section):
    """Guardian limits (code, not agents); a preset fills the prop-firm limits not given."""

    preset: Literal["custom", "ftmo", "strict"] = Field(
        "custom",
        description="ftmo: 5% daily / 10% drawdown; strict: 4.5% / 9%; an explicit "
        "daily_loss_limit or max_drawdown wins over the preset.",
    )
    risk_per_trade: float = Field(0.01, gt=0, le=0.1)
    daily_loss_limit: float = Field(0.05, description="Fraction of equity, 0 < x < 1.")
    max_drawdown: float = Field(0.10, description="Fraction of equity, 0 < x < 1.")
    max_open_positions: int = Field(3, ge=0, le=100)
    cooldown_bars: int = Field(6, ge=0, le=10_000)
    max_consecutive_losses: int = Field(3, ge=1, le=100)
    pause_bars: int = Field(24, ge=0, le=10_000, description="Bars paused after N losses.")
    max_signals_per_hour: int = Field(10, ge=0, le=100_000, description="0 refuses every trade.")
    max_signals_per_day: int = Field(50, ge=0, le=1_000_000, description="0 refuses every trade.")
    gap_allowance: float = Field(
        0.1,
        ge=0,
        le=10,
        description="How far beyond the stop a stop-out is budgeted to fill, as a fraction of "
        "the stop distance (0.1 = 10%): sizing makes such a stop-out, costs included, lose "
        "exactly risk_per_trade.",
    )
    max_leverage: float = Field(
        1.0,
        gt=0,
        le=100,
        description="Notional cap: one trade's notional at most this x equity (the sizing caps "
        "it), and the open positions' notional with it too (the guardian refuses more); "
        "1 = spot, no leverage.",
    )
    expiry: str = Field(
        "48h",
        description="How long a position (and each setup of the base rate, and each backtest "
        "trade) may stay open: a duration such as 48h, 2d or 90m; on a timeframe it is "
        "ceil(expiry / bar length) bars, the fill bar the first.",
    )

    @field_validator("expiry")
    @classmethod
    def _expiry_is_a_duration(cls, value: str) -> str:
        ms = duration_ms(value)
        if ms > MAX_EXPIRY_MS:
            raise ValueError(f"must be at most 365d, got {value!r}")
        return value.strip().lower()

    def expiry_bars(self, timeframe: str) -> int:
        """Bars of ``timeframe`` a position may stay open: ceil(expiry / bar length)."""
        from hmas.market import timeframe_ms

        step = timeframe_ms(timeframe)
        return -(-duration_ms(self.expiry) // step)

    @field_validator("daily_loss_limit", "max_drawdown")
    @classmethod
    def _fraction_below_one(cls, value: float) -> float:
        if not 0 < value < 1:
            raise ValueError(
                f"must be a fraction of equity above 0 and below 1 (0.05 = 5%), got {value}; "
                "1 or more would switch the check off"
            )
        return value

    @model_validator(mode="after")
    def _apply_preset(self) -> Self:
        # The preset fills only the limits not given: an explicit limit (from any source)
        # wins, and the fields then hold what the guardian enforces (shown, hashed, replayed).
        if self.preset in PRESETS:
            daily, drawdown = PRESETS[self.preset]
            given = self.model_fields_set
            if "daily_loss_limit" not in given:
                self.daily_loss_limit = daily
            if "max_drawdown" not in given:
                self.max_drawdown = drawdown
        return self

    def limits(self) -> tuple[float, float]:
        """(daily loss limit, max drawdown) the guardian enforces, the preset applied."""
        return self.daily_loss_limit, self.max_drawdown


class PauseParams(Section):
    """Auto-pause triggers beyond the loss streak (docs/risk.md, "Pauses"); 0 disables one.

    Each trigger stores a pause with its reason; ``hmas resume`` lifts it, or it expires.
    Operational, like the run loop's throttles: not part of a decision's config hash (a pause
    reaches a decision through the account state the guardian reads, which is stored).
    """

    daily_loss: bool = Field(
        True,
        description="Record the guardian's daily loss limit, once reached, as a pause that "
        "ends with the UTC day (the limit refuses trades either way).",
    )
    api_errors: int = Field(
        10,
        ge=0,
        le=100_000,
        description="Pause every symbol after this many errors (exchange fetches and LLM calls, "
        "every runner's) within api_errors_window; 0 disables.",
    )
    api_errors_window: str = Field("15m", description="The window of the error count.")
    api_errors_pause: str = Field("30m", description="How long an error-burst pause lasts.")
    data_quality_bars: int = Field(
        100, ge=0, le=100_000, description="The last K bars a data-quality check reads; 0 disables."
    )
    data_quality_missing: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Pause a symbol when more than this fraction of its last data_quality_bars "
        "candles is missing (0.1 = 10%).",
    )
    data_quality_pause: str = Field("6h", description="How long a data-quality pause lasts.")
    slippage_fills: int = Field(
        5,
        ge=0,
        le=10_000,
        description="Fills read by the slippage check (the engine's latest); 0 disables.",
    )
    slippage_multiple: float = Field(
        3.0,
        ge=1,
        le=1_000,
        description="Pause when the mean realised entry slippage of the last slippage_fills "
        "fills exceeds this multiple of the model's mean estimate.",
    )
    slippage_floor_bps: float = Field(
        5.0,
        ge=0,
        le=10_000,
        description="Realised slippage at or below this many bps never pauses (a near-zero "
        "estimate would otherwise make any gap a multiple of it).",
    )
    slippage_pause: str = Field("24h", description="How long a slippage pause lasts.")

    @field_validator(
        "api_errors_window", "api_errors_pause", "data_quality_pause", "slippage_pause"
    )
    @classmethod
    def _a_duration(cls, value: str) -> str:
        ms = duration_ms(value)
        if ms <= 0 or ms > MAX_EXPIRY_MS:
            raise ValueError(f"must be a duration above 0 and at most 365d, got {value!r}")
        return value.strip().lower()

    def duration(self, trigger: str) -> int:
        """Milliseconds a pause of ``trigger`` lasts (api_errors, data_quality, slippage)."""
        return duration_ms(str(getattr(self, f"{trigger}_pause")))


class PaperParams(Section):
    """The paper account: its equity, in its own currency."""

    starting_equity: float = Field(100_000.0, gt=0, description="In the account currency.")
    account_currency: str = Field(
        "USD",
        description="The currency of the account's equity and P&L. A symbol quoted in another "
        "currency (ETH-BTC) is sized by converting the equity at the bar through the stored "
        "candles of QUOTE-ACCOUNT (BTC-USD) or one of the at_par quotes (BTC-USDT).",
    )
    at_par: list[str] = Field(
        default_factory=lambda: ["USDT", "USDC"],
        description="Currencies counted as worth one unit of the account currency (the "
        "stablecoins of a USD account): a BTC-USDT symbol needs no conversion and BTC-USDT "
        "candles convert BTC. A depeg is not modelled; [] counts none.",
    )
    conversion_max_age: str = Field(
        "1d",
        description="The oldest conversion price used: the last close of the conversion pair at "
        "or before the bar's close, at most this long before it (a duration).",
    )

    @field_validator("account_currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        return _currency(value)

    @field_validator("at_par")
    @classmethod
    def _currency_codes(cls, value: list[str]) -> list[str]:
        return [_currency(v) for v in value]

    @field_validator("conversion_max_age")
    @classmethod
    def _age_is_a_duration(cls, value: str) -> str:
        duration_ms(value)
        return value.strip().lower()


def _currency(value: str) -> str:
    """A currency code as symbols write it (``usd`` -> ``USD``); ValueError if it is not one."""
    code = value.strip().upper()
    if not (code.isascii() and code.isalnum() and 1 <= len(code) <= 20):
        raise ValueError(f"expected a currency code such as USD or BTC, got {value!r}")
    return code


class DecisionParams(Section):
    """How much history a decision reads."""

    window: int = Field(
        600,
        description="Not read any more: a decision's window is anchored (decision.segment, "
        "rationale.base_rate_lookback). Only its old default is accepted, so configurations "
        "stored with past signals still load, and a changed value is never silently ignored.",
    )
    gap_lookback: int = Field(
        50, ge=1, le=10_000, description="Bars before the decision bar checked for gaps."
    )
    max_recent_missing: int = Field(
        0, ge=0, description="Missing candles allowed in those bars before a trade is refused."
    )
    engine: Literal["rules", "llm"] = Field(
        "rules",
        description="Default engine of every agent: rules (offline, free) or llm (each agent on "
        "its llm.routing route; the mother deliberates on one too). docs/llm.md",
    )
    engines: dict[str, Literal["rules", "llm"]] = Field(
        default_factory=dict,
        description='Engine per agent, overriding the default (e.g. {"alpha": "llm"}).',
    )
    ablate: list[str] = Field(
        default_factory=list,
        description="Agents removed from the panel: each abstains on every bar, as an agent that "
        "cannot answer does (a voter's vote and flags are gone; alpha removed: every bar HOLD). "
        "execution and rationale cannot be removed. docs/agents.md, Ablation",
    )
    segment: str = Field(
        "auto",
        description="Length of the segments, aligned to the epoch, from whose anchored start a "
        "decision is computed: a duration such as 7d, or auto (a sixth of the window's reach, "
        "or the reach less 2,000 bars when that is longer).",
    )

    @field_validator("window")
    @classmethod
    def _window_is_not_read(cls, value: int) -> int:
        if value != 600:
            raise ValueError(
                "decision.window is no longer used: a decision reads the anchored window set by "
                "decision.segment and rationale.base_rate_lookback; remove decision.window"
            )
        return value

    @field_validator("ablate")
    @classmethod
    def _ablate_names(cls, value: list[str]) -> list[str]:
        # The names are checked against the registry where the agents are known
        # (hmas.agents.registry.ablated): the settings sit below the agents.
        return sorted({v.strip().lower() for v in value if v.strip()})

    @field_validator("segment")
    @classmethod
    def _segment_is_a_duration(cls, value: str) -> str:
        value = value.strip().lower()
        if value != "auto":
            try:
                duration_ms(value)
            except ValueError as exc:
                text = str(exc).replace("expected a duration", "expected auto or a duration", 1)
                raise ValueError(text) from None
        return value


class RunSettings(Section):
    """``hmas run``: how long a runner's lease on a series lasts without renewal."""

    lease_seconds: float = Field(
        300.0,
        ge=1,
        le=86_400,
        description="A runner renews its leases about every third of this; one paused or "
        "stalled longer loses them to another runner (and stops, exit 3).",
    )


#: How far tournament weights may sum from 1 (they are typed as decimals such as 0.4, 0.3, ...).
WEIGHT_TOLERANCE = 1e-6


def check_weights(weights: list[float] | tuple[float, ...]) -> str | None:
    """Why ``weights`` cannot be weights by rank (positive, finite, summing to 1), or None."""
    import math

    if not weights:
        return "is empty; give one weight per rank, e.g. [0.4, 0.3, 0.2, 0.1]"
    bad = [w for w in weights if not (math.isfinite(w) and w > 0)]
    if bad:
        return f"must all be above 0, not {bad[0]!r}"
    total = math.fsum(weights)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        return f"must sum to 1, not {total:.6g}; e.g. [0.4, 0.3, 0.2, 0.1]"
    return None


class TournamentSettings(Section):
    """``--tournament``: how the configurations' paper books are ranked and weighted."""

    weights: list[float] | None = Field(
        None,
        description="Capital weights by rank, best first: positive, summing to 1, one per "
        "configuration (e.g. [0.4, 0.3, 0.2, 0.1] for four). Unset: linearly decreasing by "
        "rank, normalised (40/30/20/10 for four, 50/33/17 for three).",
    )
    window: str = Field(
        "30d", description="The trailing window of realised P&L the books are ranked by."
    )
    rerank: str = Field(
        "7d",
        description="How often the books are re-ranked: at the multiples of this duration "
        "since the epoch (UTC; 7d re-ranks each Thursday 00:00).",
    )

    @field_validator("weights")
    @classmethod
    def _weights_by_rank(cls, value: list[float] | None) -> list[float] | None:
        if value is not None:
            problem = check_weights(value)
            if problem is not None:
                raise ValueError(problem)
        return value

    @field_validator("window", "rerank")
    @classmethod
    def _a_duration(cls, value: str) -> str:
        duration_ms(value)
        return value.strip().lower()

    @property
    def window_ms(self) -> int:
        return duration_ms(self.window)

    @property
    def rerank_ms(self) -> int:
        return duration_ms(self.rerank)


class NewsSettings(Section):
    """The news source of the sentiment agent: a headlines file (docs/configuration.md)."""

    file: Path | None = Field(
        None,
        description="Headlines file, .jsonl (a JSON object per line) or .csv (a header row), "
        "each headline with published_at (ISO 8601 with a timezone) and title; unset: no news "
        "source. The LLM engine's sentiment agent reads the headlines as quoted data; the "
        "rules engine only counts them.",
    )
    lookback_hours: float = Field(
        24.0,
        gt=0,
        le=8760,
        description="A decision reads the headlines published in this many hours up to its "
        "bar's close (never after it).",
    )
    max_headlines: int = Field(
        20, ge=1, le=50, description="At most this many headlines (the newest) per decision."
    )

    @field_validator("file", mode="before")
    @classmethod
    def _file_not_blank(cls, value: Any) -> Any:
        # An empty path would be the working directory, not "no news source".
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty; remove news.file for no news source")
        return value

    def decision_config(self) -> dict[str, Any] | None:
        """What a decision on the LLM engine keeps of these settings (None: no source).

        The window, not the file's path: the headlines a decision read are stored with it.
        """
        if self.file is None:
            return None
        return {"lookback_hours": self.lookback_hours, "max_headlines": self.max_headlines}


class NotifySettings(Section):
    """Notifications (send-only) of approved signals, guardian pauses and the kill switch.

    Nothing is sent unless a channel is configured: Telegram (a bot token and a chat id) or a
    Discord webhook. The token and the webhook URL are secrets: masked in ``config show``,
    never logged, stored or printed (docs/configuration.md).
    """

    telegram_token: SecretStr | None = Field(
        None, description="Telegram bot token (from @BotFather); needs telegram_chat_id."
    )
    telegram_chat_id: str | None = Field(
        None,
        description="Telegram chat to post to: a numeric id (-100123…) or @channelname; "
        "needs telegram_token.",
    )
    telegram_api_url: str = Field(
        "https://api.telegram.org",
        description="Telegram Bot API base URL (a self-hosted Bot API server or relay).",
    )
    discord_webhook_url: SecretStr | None = Field(
        None, description="Discord webhook URL (https://discord.com/api/webhooks/ID/TOKEN)."
    )
    max_per_minute: int = Field(
        10,
        ge=1,
        le=600,
        description="At most this many messages in any 60 seconds; the rest are counted and "
        "summarised in the next message sent.",
    )
    timeout_seconds: float = Field(
        5.0, gt=0, le=120, description="Longest one message may take to send."
    )

    @field_validator("telegram_token", "discord_webhook_url", "telegram_chat_id", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # A number in TOML (telegram_chat_id = -100123) is the chat's id.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.strip().lower().startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.strip().rstrip("/")

    @field_validator("discord_webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        # The message never repeats the value: the URL holds the webhook's token.
        if value is not None:
            url = value.get_secret_value().strip()
            if not url.lower().startswith(("http://", "https://")):
                raise ValueError("expected an http:// or https:// URL (value not shown: a secret)")
            return SecretStr(url)
        return value

    @model_validator(mode="after")
    def _telegram_pair(self) -> Self:
        if (self.telegram_token is None) != (self.telegram_chat_id is None):
            missing = "telegram_chat_id" if self.telegram_chat_id is None else "telegram_token"
            raise ValueError(
                f"Telegram needs both a token and a chat id; set {missing} "
                f"({env_name(['notify', missing])})"
            )
        return self

    def configured(self) -> bool:
        """True when some channel is set up."""
        return self.telegram_token is not None or self.discord_webhook_url is not None


class ExchangeCredentials(Section):
    """Optional API credentials; public market data needs none."""

    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None


#: How a model is asked for a JSON answer: the provider's native JSON-schema structured output,
#: its JSON mode (any JSON object, the schema in the prompt), or the schema in the prompt alone.
StructuredMode = Literal["json_schema", "json_mode", "prompt"]
WireFormatName = Literal["openai", "anthropic"]

#: The reference deployment (docs/llm.md): the four analysts on DeepSeek, the execution auditor
#: on xAI Grok, the rationale on Anthropic Claude, the mother on Gemini.
REFERENCE_ROUTING: dict[str, str] = {
    "alpha": "deepseek",
    "technical": "deepseek",
    "sentiment": "deepseek",
    "macro": "deepseek",
    "execution": "xai",
    "rationale": "anthropic",
    "mother": "gemini",
}
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


def _env_var_name(value: str) -> bool:
    return value == "" or (
        value.isascii()
        and (value[0].isalpha() or value[0] == "_")
        and all(c.isalnum() or c == "_" for c in value)
    )


class LlmModelParams(Section):
    """One model of a vendor: its prices (USD per million tokens) and structured-output mode."""

    input_per_mtok: float | None = Field(None, ge=0, description="Input tokens, $ per million.")
    output_per_mtok: float | None = Field(None, ge=0, description="Output tokens, $ per million.")
    cached_input_per_mtok: float | None = Field(
        None, ge=0, description="Input tokens read from the provider's cache, $ per million."
    )
    structured: StructuredMode | None = Field(
        None, description="json_schema, json_mode or prompt (docs/llm.md, structured output)."
    )


class LlmVendorParams(LlmModelParams):
    """A vendor added or overridden in the config: a built-in one needs only what changes.

    The prices and mode given here apply to the vendor's models not listed under ``models``.
    """

    wire: WireFormatName | None = Field(
        None, description="Wire format: openai (chat completions) or anthropic (messages)."
    )
    base_url: str | None = Field(None, description="API base URL, e.g. http://127.0.0.1:11434/v1.")
    key_env: str | None = Field(
        None, description='Environment variable holding the API key; "" for a server without one.'
    )
    api_key: SecretStr | None = Field(
        None, description="The key itself (prefer the environment variable named by key_env)."
    )
    default_model: str | None = Field(
        None, min_length=1, description="Model used when routed bare."
    )
    concurrency: int | None = Field(
        None, ge=1, le=1000, description="Calls in flight at once to this vendor (llm.concurrency)."
    )
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] | None = Field(
        None, description="Request field capping the answer's length (OpenAI wire only)."
    )
    models: dict[str, LlmModelParams] = Field(
        default_factory=dict, description="Per-model prices and modes, by model name."
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.strip().lower().startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.strip().rstrip("/") if value is not None else None

    @field_validator("key_env")
    @classmethod
    def _variable_name(cls, value: str | None) -> str | None:
        if value is not None and not _env_var_name(value.strip()):
            raise ValueError(
                f"expected the name of an environment variable such as DEEPSEEK_API_KEY "
                f'(or "" for none), got {value!r}'
            )
        return value.strip() if value is not None else None


class LlmParams(Section):
    """The LLM engine's providers: vendors, routing per agent, timeouts, retries (docs/llm.md)."""

    routing: dict[str, str] = Field(
        default_factory=lambda: dict(REFERENCE_ROUTING),
        description='Agent -> "vendor" or "vendor/model" (e.g. "openrouter/x-ai/grok-4"); '
        "routes given replace the shipped route of those agents only.",
    )
    vendors: dict[str, LlmVendorParams] = Field(
        default_factory=dict,
        description="Vendors added, or built-in ones overridden (base URL, key variable, "
        "models, prices, mode).",
    )
    call_timeout_seconds: float = Field(
        60.0, gt=0, le=3600, description="Longest one HTTP call may take, answer included."
    )
    connect_timeout_seconds: float = Field(
        10.0, gt=0, le=600, description="Longest the connection to a provider may take."
    )
    signal_deadline_seconds: float = Field(
        300.0, gt=0, le=86_400, description="Every LLM call of one signal ends by this deadline."
    )
    concurrency: int = Field(
        4, ge=1, le=1000, description="Calls in flight at once per vendor (unless it sets its own)."
    )
    retries: int = Field(
        3, ge=0, le=10, description="Retries on 429, 5xx, timeouts and connection errors."
    )
    backoff_seconds: float = Field(
        1.0, ge=0, le=300, description="First retry delay (doubles, with jitter)."
    )
    max_backoff_seconds: float = Field(
        30.0, ge=0, le=3600, description="Longest wait between retries, Retry-After included."
    )
    max_output_tokens: int = Field(
        2048, ge=1, le=1_000_000, description="Most tokens an answer may have."
    )
    daily_budget_usd: float = Field(
        20.0,
        ge=0,
        le=1_000_000,
        description="LLM spend allowed per UTC day, across processes (a call that would pass "
        "it is not made; the run exits 3).",
    )
    signal_cap_usd: float = Field(
        2.0,
        ge=0,
        le=1_000_000,
        description="LLM spend allowed for one signal (its agents and the mother's deliberation).",
    )
    cache: bool = Field(
        True,
        description="Answer a call from the call log when the same vendor, model, prompt and "
        "schema were answered before ($0); false forces fresh calls.",
    )

    @field_validator("routing", mode="before")
    @classmethod
    def _over_reference(cls, value: Any) -> Any:
        # A file routing one agent keeps the shipped routes of the others.
        if isinstance(value, dict):
            return {**REFERENCE_ROUTING, **value}
        return value

    @field_validator("routing")
    @classmethod
    def _route_shape(cls, value: dict[str, str]) -> dict[str, str]:
        for agent, route in value.items():
            vendor, _, model = route.strip().partition("/")
            if not vendor or (route.strip().count("/") and not model.strip()):
                raise ValueError(
                    f'route of {agent} must be "vendor" or "vendor/model", got {route!r}'
                )
        return {k.strip().lower(): v.strip() for k, v in value.items()}

    @field_validator("vendors")
    @classmethod
    def _vendor_names(cls, value: dict[str, LlmVendorParams]) -> dict[str, LlmVendorParams]:
        for name in value:
            if not name or not set(name) <= _NAME_CHARS:
                raise ValueError(
                    f"vendor name {name!r} must be lower-case letters, digits, _ or - "
                    "(e.g. deepseek, my-vllm)"
                )
        return value

    @model_validator(mode="after")
    def _backoff_in_order(self) -> Self:
        _ordered(self, "backoff_seconds", "max_backoff_seconds")
        return self


class Settings(BaseSettings):
    """Every setting hmas reads, with its source precedence."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=DOTENV_FILE,
        env_file_encoding="utf-8",
        # An empty HMAS_X= (in the environment or .env) is unset, not an invalid value.
        env_ignore_empty=True,
        # .env may hold other tools' variables; unknown HMAS_ ones are refused by load_settings.
        dotenv_filtering="only_existing",
        extra="forbid",
        allow_inf_nan=False,
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
    kill_switch: bool = Field(
        False, description="HMAS_KILL_SWITCH=1 refuses every new trade (true/false, 1/0, yes/no)."
    )
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
    pause: PauseParams = Field(default_factory=PauseParams)
    llm: LlmParams = Field(default_factory=LlmParams)
    news: NewsSettings = Field(default_factory=NewsSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    run: RunSettings = Field(default_factory=RunSettings)
    tournament: TournamentSettings = Field(default_factory=TournamentSettings)
    #: The paper book decisions are kept under when it is not the engine's own (a tournament
    #: entrant's ``rules@fast``); not a setting: never in a file, the config hash or its dump.
    _book: str | None = PrivateAttr(default=None)

    @property
    def book_name(self) -> str:
        """The key of the paper book (account, positions, signals): the engine's name, or a
        tournament entrant's ``<engine>@<name>``."""
        return self._book or self.decision.engine

    def for_book(self, name: str) -> Settings:
        """These settings deciding into the paper book ``name`` (at most 32 characters)."""
        if not 0 < len(name) <= 32:
            raise ValueError(f"a paper book's name has 1 to 32 characters, not {name!r}")
        copy = self.model_copy()
        copy._book = name
        return copy

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
        data = _file_data.get()
        if data:
            sources.append(InitSettingsSource(settings_cls, init_kwargs=data))
        return tuple(sources)

    @field_validator("db_url", "data_dir", mode="before")
    @classmethod
    def _not_blank(cls, value: Any, info: ValidationInfo) -> Any:
        # An empty value in a file or flag would silently mean "the default store".
        if isinstance(value, str) and not value.strip():
            raise ValueError(f"is empty; remove {info.field_name} to use the default")
        return value

    @field_validator("db_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        # Messages never repeat the URL: it may hold a password.
        if value is not None and (problem := url_problem(value)):
            raise ValueError(problem)
        return value

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
        # No per-agent engine: the record of every earlier signal (and its hash) stays as it was.
        if not data["decision"].get("engines"):
            data["decision"].pop("engines", None)
        # Likewise no ablation and no walk-forward cutoff: only a changed decision is hashed.
        if not data["decision"].get("ablate"):
            data["decision"].pop("ablate", None)
        if data["rationale"].get("base_rate_cutoff") is None:
            data["rationale"].pop("base_rate_cutoff", None)
        # An LLM decision is also the models that gave it: their routes are part of its identity.
        if self.uses_llm():
            data["llm"] = {"routing": dict(sorted(self.llm.routing.items()))}
            # The models read the headlines; the rules never do, so a rules decision's hash
            # (and every earlier one) is the same with or without a news source.
            news = self.news.decision_config()
            if news is not None:
                data["news"] = news
        if DECISION_MODEL > 1:
            data["model"] = DECISION_MODEL
        return data

    def uses_llm(self) -> bool:
        """True when some agent (or the mother) runs on the LLM engine."""
        return self.decision.engine == "llm" or "llm" in self.decision.engines.values()

    def config_hash(self) -> str:
        """Short stable hash of ``decision_config``."""
        import hashlib
        import json

        blob = json.dumps(self.decision_config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def resolved_data_dir(self) -> Path:
        """The data directory, created on demand; ConfigError if it cannot be."""
        if self.data_dir is not None:
            path = self.data_dir.expanduser()
        else:
            from platformdirs import user_data_path

            path = user_data_path("hmas", appauthor=False)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = "it is a file" if path.exists() else (exc.strerror or str(exc))
            raise ConfigError(
                f"cannot use data directory {path}: {reason}; set HMAS_DATA_DIR to a "
                "writable directory"
            ) from None
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
        data["db_url"] = mask_url(self.db_url) if self.db_url else None
        return data


def _mask(model: BaseModel, data: dict[str, Any]) -> None:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            data[name] = "**********" if value.get_secret_value() else ""
        elif isinstance(value, BaseModel):
            _mask(value, data[name])


# --- secrets in URLs -----------------------------------------------------------------------

_MASK = "***"
_SECRET_QUERY_KEYS = ("password", "passwd", "pwd", "secret", "token", "key")


def mask_url(url: str) -> str:
    """Hide the credential of a database URL, however it is written.

    The userinfo is everything between ``://`` and the *last* ``@``: a raw ``@``, ``:``, ``/``,
    ``?``, ``#`` or ``%`` in a password is then still hidden whole (SQLAlchemy's parser splits
    such a password at its first ``@`` and shows the rest). Only a user name before the first
    ``:`` is kept; a query parameter such as ``password=`` is masked too. A string that is not a
    URL at all is masked up to its last ``@``; a URL with an empty authority (``sqlite:///…``)
    has none. Over-masking (an ``@`` in a database name) is preferred to leaking.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    at = -1 if rest.startswith("/") else rest.rfind("@")  # "sqlite:///a@b": no userinfo
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, _password = userinfo.partition(":")
        if colon and user and not any(c in user for c in "@/?#"):
            shown = f"{user}:{_MASK}"
        elif not colon and userinfo and not any(c in userinfo for c in "@/?#%"):
            shown = userinfo  # a user name alone, no password
        else:
            shown = _MASK
        rest = f"{shown}@{rest}"
    return f"{scheme}{sep}{_mask_query(rest)}"


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a database URL (without quoting it), or None if it looks sound."""
    import re

    example = "e.g. sqlite:///path/hmas.db or postgresql://user:pass@host/db"
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        return f"is not a database URL; use {example}"
    if rest.startswith("/"):
        return None  # no host part: sqlite:///file
    first = rest.find("@")
    if first >= 0:
        after = rest[first + 1 :]
        for stop in "/?":
            after = after.split(stop, 1)[0]
        # SQLAlchemy ends the password at the first '@': if what follows is no host[:port]
        # and another '@' comes later, the password holds a raw '@' (and would connect to
        # the wrong host, or show half the password in messages).
        host = r"[\w.\-]+(:\d+)?|\[[0-9A-Fa-f:.]+\](:\d+)?|"
        if "@" in after or (rest.count("@") > 1 and not re.fullmatch(host, after)):
            return (
                "has a raw '@' in its user name or password; percent-encode it as %40 "
                "(postgresql://user:p%40ss@host/db)"
            )
        hostport = after
    else:
        hostport = rest.split("/", 1)[0].split("?", 1)[0]
    port = hostport.rsplit("]", 1)[-1].rpartition(":")[2] if ":" in hostport else ""
    if ":" in hostport.rsplit("]", 1)[-1] and not (port.isdigit() and 0 < int(port) < 65536):
        return (
            f"has an invalid port {port!r}; use a number from 1 to 65535 after the host "
            "(e.g. :5432)"
        )
    return None


def _mask_query(text: str) -> str:
    import re

    pattern = r"([?&;][^=&;#]*(?:" + "|".join(_SECRET_QUERY_KEYS) + r")[^=&;#]*=)[^&;#]*"
    return re.sub(pattern, rf"\g<1>{_MASK}", text, flags=re.IGNORECASE)


# --- loading -------------------------------------------------------------------------------


def config_file_for(path: Path | None) -> Path | None:
    """The TOML file to read: ``path`` (must exist) or ``hmas.toml`` in the working directory."""
    if path is not None:
        if path.is_dir():
            raise ConfigError(f"config file {path} is a directory; pass a TOML file")
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}; pass an existing TOML file")
        return path
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build ``Settings`` (overrides are CLI flags, the highest precedence); ConfigError if bad.

    Before pydantic sees anything, every key of the TOML file, of the environment (``HMAS_*``)
    and of ``.env`` is checked against the schema, so a misspelt setting is an error naming the
    key, the nearest valid one and its variable rather than a silently ignored line.
    """
    from pydantic_settings import SettingsError

    path = config_file_for(config)
    data = read_config_file(path) if path is not None else {}
    problems = _unknown_file_keys(data, str(path))
    problems += _check_variables(_environment(), "in the environment")
    problems += _check_variables(_dotenv(), f"in {DOTENV_FILE}")
    if problems:
        raise InvalidSettingsError(problems)
    token = _file_data.set(data)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise InvalidSettingsError(_describe(exc)) from None
    except SettingsError as exc:  # pragma: no cover - _check_variables catches bad JSON first
        raise InvalidSettingsError(
            [f"{exc}; check the HMAS_ variables in the environment and {DOTENV_FILE}"]
        ) from None
    finally:
        _file_data.reset(token)


def read_config_file(path: Path) -> dict[str, Any]:
    """The TOML file as a dict; ConfigError naming the file and the fix if it cannot be read."""
    import tomllib

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read config file {path}: {exc.strerror or exc}; check its permissions"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (binary?); pass a TOML file such as "
            "examples/hmas.toml"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not valid TOML: {exc}; fix that line (TOML strings need "
            'quotes: timeframe = "1h")'
        ) from None


# --- unknown keys ----------------------------------------------------------------------------


def _is_setting(name: str) -> bool:
    """True for an ``HMAS_*`` variable name that is meant as a setting."""
    upper = name.upper()
    if not upper.startswith(ENV_PREFIX):
        return False
    return upper not in NOT_SETTINGS and not upper.startswith(NOT_SETTINGS_PREFIXES)


def _environment() -> dict[str, str]:
    """The non-empty ``HMAS_*`` settings variables of the process."""
    return {k: v for k, v in os.environ.items() if v != "" and _is_setting(k)}


def _dotenv() -> dict[str, str]:
    """The non-empty ``HMAS_*`` settings variables of ``.env`` in the working directory."""
    path = Path(DOTENV_FILE)
    if not (path.is_file() or path.is_fifo()):
        return {}
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path, encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            f"{DOTENV_FILE} in {Path.cwd()} is not UTF-8 text; fix or remove it"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {DOTENV_FILE}: {exc.strerror or exc}") from None
    if any(k.upper() == "HMAS_CONFIG" for k in values):
        raise ConfigError(
            f"HMAS_CONFIG in {DOTENV_FILE} is not read; set it in the environment or pass "
            "--config PATH"
        )
    return {k: v for k, v in values.items() if v and _is_setting(k)}


def env_name(path: tuple[str, ...] | list[str]) -> str:
    """The environment variable of a setting: ``("risk", "max_drawdown")`` -> HMAS_RISK__…."""
    return ENV_PREFIX + "__".join(p.upper() for p in path)


def _resolve(parts: list[str]) -> tuple[int, Any]:
    """How many leading ``parts`` name settings, and what the last of them is.

    Walks the models: the result is ``(n, kind)`` where ``kind`` is the model class reached,
    ``dict`` for a free-keyed mapping (execution.taker_bps: any key below it is valid), or
    ``None`` for a plain value.
    """
    model: Any = Settings
    i = 0
    while i < len(parts):
        part = parts[i]
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return i, model
        field = model.model_fields.get(part)
        if field is None:
            return i, model
        ann = field.annotation
        entry = getattr(ann, "__args__", (None, None))[-1]
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        elif (
            getattr(ann, "__origin__", None) is dict
            and isinstance(entry, type)
            and issubclass(entry, BaseModel)
        ):
            # A mapping of sections (llm.vendors.<name>): any key, then the section's fields.
            if i + 1 >= len(parts):
                return len(parts), dict
            model = entry
            i += 2
            continue
        elif getattr(ann, "__origin__", None) is dict:
            return len(parts), (dict if i == len(parts) - 1 else None)
        elif getattr(ann, "__origin__", None) is list:
            return (len(parts), list) if i == len(parts) - 1 else (i + 1, None)
        else:
            model = None
        i += 1
    return len(parts), model


def _nearest(parts: list[str]) -> tuple[str, ...] | None:
    """The valid setting closest to ``parts``: each unknown part replaced by its nearest name."""
    import difflib

    parts = list(parts)
    for _ in range(len(parts) + 1):
        known, kind = _resolve(parts)
        if known == len(parts):
            return tuple(parts)
        if not (isinstance(kind, type) and issubclass(kind, BaseModel)):
            return tuple(parts[:known]) if known else None  # extra parts under a plain value
        names = {n.lower(): n for n in kind.model_fields}
        match = difflib.get_close_matches(parts[known].lower(), list(names), n=1, cutoff=0.6)
        if not match:
            return None
        parts[known] = names[match[0]]
    return None


def _replaced(parts: list[str]) -> str | None:
    """What replaced a removed setting (``paper.expiry_bars``), as a message tail; else None."""
    new = REPLACED.get(tuple(p.lower() for p in parts))
    if new is None:
        return None
    return f"was replaced by {new} ({env_name(new.split('.'))}), {_REPLACED_HINT[new]}"


def _unknown_file_keys(data: dict[str, Any], where: str) -> list[str]:
    problems: list[str] = []

    def walk(node: dict[str, Any], prefix: list[str]) -> None:
        for key, value in node.items():
            parts = [*prefix, key]
            known, kind = _resolve(parts)
            if known == len(parts):
                if isinstance(value, dict) and isinstance(kind, type):
                    walk(value, parts)
                continue
            key_shown = ".".join(parts)
            if (replaced := _replaced(parts)) is not None:
                problems.append(f"setting {key_shown} in {where} {replaced}")
                continue
            near = _nearest(parts)
            if near is not None:
                problems.append(
                    f"unknown setting {key_shown} in {where}; did you mean "
                    f"{'.'.join(near)} ({env_name(near)})?"
                )
            else:
                section = ".".join(parts[:known])
                is_model = isinstance(kind, type) and issubclass(kind, BaseModel)
                valid = ", ".join(kind.model_fields if is_model else [])
                here = f"in [{section}]" if section else "at the top level"
                problems.append(
                    f"unknown setting {key_shown} in {where}; valid keys {here}: {valid}"
                )

    walk(data, [])
    return problems


def _check_variables(variables: dict[str, str], where: str) -> list[str]:
    """Unknown names and unparsable JSON among ``HMAS_*`` variables."""
    import json

    problems: list[str] = []
    for name, value in sorted(variables.items()):
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        known, kind = _resolve(parts)
        if (replaced := _replaced(parts)) is not None:
            problems.append(f"setting {name} {where} {replaced}")
        elif known < len(parts) or not all(parts):
            near = _nearest(parts)
            hint = (
                f"did you mean {env_name(near)} ({'.'.join(near)})?"
                if near is not None
                else f"remove it (every {ENV_PREFIX}* variable is read as a setting; "
                "hmas config show lists them)"
            )
            problems.append(f"unknown setting {name} {where}; {hint}")
        elif kind in (dict, list) or (isinstance(kind, type) and issubclass(kind, BaseModel)):
            try:
                json.loads(value)
            except ValueError as exc:
                if kind is dict:
                    fix = (
                        f"""give a JSON object such as {name}='{{"coinbase": 60}}' or set one """
                        f"key as {name}__COINBASE=60"
                    )
                elif kind is list:
                    fix = f"""give a JSON list such as {name}='["USDT", "USDC"]'"""
                else:
                    fix = f"set one key as {name}__<KEY>=value, or give a JSON object"
                problems.append(f"{name} {where} is not valid JSON ({exc}); {fix}")
    return problems


def _describe(exc: ValidationError) -> list[str]:
    """One message per bad setting, named the way a user sets it."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "settings"
        env = env_name([str(p) for p in err["loc"]])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            path = [str(p) for p in err["loc"]]
            near = _nearest(path)
            msg = _replaced(path) or "unknown setting" + (
                f"; did you mean {'.'.join(near)} ({env_name(near)})?" if near else ""
            )
        parts.append(f"{loc} ({env}): {msg}")
    return parts
