"""File import: every supported layout, and each form of bad file with its one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from hmas.data.files import read_ohlcv_file
from hmas.errors import DataFileError, DataFileNotFoundError

GOOD_ROWS = [
    ("2024-03-01T00:00:00Z", 100, 110, 95, 105, 12.5),
    ("2024-03-01T01:00:00Z", 105, 108, 101, 102, 8.0),
    ("2024-03-01T02:00:00Z", 102, 104, 100, 103, 9.1),
]


def csv_file(
    tmp_path: Path, rows: list[tuple[object, ...]], header: str = "ts,open,high,low,close,volume"
) -> Path:
    path = tmp_path / "candles.csv"
    lines = [header, *(",".join(str(v) for v in r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_plain_csv(tmp_path: Path) -> None:
    frame = read_ohlcv_file(csv_file(tmp_path, GOOD_ROWS), symbol="BTC-USD", timeframe="1h")
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert frame.index[0] == pd.Timestamp("2024-03-01T00:00Z")
    assert frame["close"].tolist() == [105, 102, 103]


def test_unsorted_csv_with_epoch_ms_is_sorted(tmp_path: Path) -> None:
    rows = [(1709254800000, 105, 108, 101, 102, 8), (1709251200000, 100, 110, 95, 105, 12)]
    frame = read_ohlcv_file(csv_file(tmp_path, rows), symbol="BTC-USD", timeframe="1h")
    assert frame.index.is_monotonic_increasing
    assert frame["open"].tolist() == [100, 105]


def test_ccxt_json(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps([[1709251200000, 1, 2, 0.5, 1.5, 3], [1709254800000, 1.5, 2, 1, 1.2, 4]])
    )
    frame = read_ohlcv_file(path, symbol="ALT-BTC", timeframe="1h")
    assert len(frame) == 2


def test_tests_fixture_slice_of_real_btc() -> None:
    path = Path(__file__).parent / "btc_usd_1h_300.csv"
    if not path.exists():
        pytest.skip("fixture not generated")
    frame = read_ohlcv_file(path, symbol="BTC-USD", timeframe="1h")
    assert len(frame) == 300


@pytest.mark.shared
def test_cryptodatadownload_csv(shared_data: Path) -> None:
    frame = read_ohlcv_file(
        shared_data / "ohlcv/coinbase_btc_usd_1h.csv", symbol="BTC-USD", timeframe="1h"
    )
    assert len(frame) == 20_111
    assert frame.index[0] == pd.Timestamp("2017-07-01 11:00Z")
    assert frame.index[-1] == pd.Timestamp("2019-10-17 09:00Z")
    last = frame.iloc[-1]
    # 2019-10-17 09-AM,BTCUSD,8051,8056.83,8021.23,8035.88,61.25,492394.56 (volume in BTC)
    assert (last["open"], last["high"], last["low"], last["close"], last["volume"]) == (
        8051,
        8056.83,
        8021.23,
        8035.88,
        61.25,
    )


@pytest.mark.shared
def test_freqtrade_feather_and_json(shared_data: Path) -> None:
    feather = read_ohlcv_file(
        shared_data / "ohlcv/freqtrade_eth_btc_5m.feather", symbol="ETH-BTC", timeframe="5m"
    )
    assert len(feather) == 5_760
    gaps = read_ohlcv_file(
        shared_data / "ohlcv/freqtrade_alt_btc_1m_gaps.json", symbol="ALT-BTC", timeframe="1m"
    )
    assert len(gaps) == 13_681


@pytest.mark.shared
def test_wide_layout_picks_the_symbol(shared_data: Path) -> None:
    eth = read_ohlcv_file(
        shared_data / "ohlcv/bitstamp_btc_eth_ltc_usd_1d.csv", symbol="ETH-USD", timeframe="1d"
    )
    assert eth.index[0] == pd.Timestamp("2017-11-09", tz="UTC")
    btc = read_ohlcv_file(
        shared_data / "ohlcv/bitstamp_btc_eth_ltc_usd_1d.csv", symbol="BTC-USD", timeframe="1d"
    )
    assert len(btc) == 1_865


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataFileNotFoundError) as info:
        read_ohlcv_file(tmp_path / "nope.csv", symbol="BTC-USD", timeframe="1h")
    assert (
        str(info.value)
        == f"file not found: {tmp_path / 'nope.csv'}; pass an existing file with --path"
    )
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "cols.csv",
            "ts,o,h,l,c,v\n2024-03-01,1,2,0.5,1.5,3\n",
            "cols.csv: missing column(s) open, high, low, close, volume; found: ts, o, h, l, c, v",
        ),
        (
            "notime.csv",
            "open,high,low,close,volume\n1,2,0.5,1.5,3\n",
            "notime.csv: missing column(s) a time column (ts, timestamp or date)",
        ),
        (
            "text.csv",
            "ts,open,high,low,close,volume\n2024-03-01T00:00Z,abc,2,0.5,1.5,3\n",
            "text.csv: non-numeric or missing open at 2024-03-01T00:00:00+00:00 ('abc')",
        ),
        (
            "neg.csv",
            "ts,open,high,low,close,volume\n2024-03-01T00:00Z,-1,2,-2,1.5,3\n",
            "neg.csv: non-positive price at 2024-03-01T00:00:00+00:00",
        ),
        (
            "zero.csv",
            "ts,open,high,low,close,volume\n2024-03-01T00:00Z,0,0,0,0,3\n",
            "zero.csv: non-positive price at 2024-03-01T00:00:00+00:00",
        ),
        (
            "negvol.csv",
            "ts,open,high,low,close,volume\n2024-03-01T00:00Z,1,2,0.5,1.5,-3\n",
            "negvol.csv: negative volume at 2024-03-01T00:00:00+00:00",
        ),
        (
            "hl.csv",
            "ts,open,high,low,close,volume\n2024-03-01T00:00Z,1,0.5,2,1,3\n",
            "hl.csv: high < low at 2024-03-01T00:00:00+00:00",
        ),
        (
            "dup.csv",
            "ts,open,high,low,close,volume\n2024-03-01T00:00Z,1,2,0.5,1.5,3\n2024-03-01T00:00Z,1,2,0.5,1.5,3\n",
            "dup.csv: duplicate timestamp 2024-03-01T00:00:00+00:00",
        ),
        (
            "nan.csv",
            "ts,open,high,low,close,volume\n2024-03-01T00:00Z,1,2,0.5,,3\n",
            "nan.csv: non-numeric or missing close at 2024-03-01T00:00:00+00:00 ('')",
        ),
        (
            "inf.csv",
            "ts,open,high,low,close,volume\n2024-03-01T00:00Z,1,inf,0.5,1,3\n",
            "inf.csv: infinite value at 2024-03-01T00:00:00+00:00",
        ),
        (
            "badtime.csv",
            "ts,open,high,low,close,volume\nyesterday,1,2,0.5,1.5,3\n",
            "badtime.csv: cannot parse time 'yesterday'; use ISO 8601 or epoch milliseconds",
        ),
        (
            "tf.csv",
            "ts,open,high,low,close,volume\n2024-03-01,1,2,0.5,1.5,3\n2024-03-02,1,2,0.5,1.5,3\n",
            "tf.csv: candles are 1d apart but --timeframe is 1h; pass --timeframe 1d",
        ),
        ("bad.json", "{not json", "bad.json: not valid JSON"),
        (
            "shape.json",
            "[[1, 2, 3]]",
            "shape.json: every row must be [ms, open, high, low, close, volume]",
        ),
        (
            "obj.json",
            '{"a": 1}',
            "obj.json: expected a JSON list of [ms, open, high, low, close, volume]",
        ),
        ("bad.feather", "not arrow", "bad.feather: not a readable feather file"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFileError) as info:
        read_ohlcv_file(path, symbol="BTC-USD", timeframe="1h")
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 1
