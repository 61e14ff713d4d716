"""Rebuild the exchange cassettes from real recorded responses, without touching the network.

    uv run python tests/data/cassettes/build_cassettes.py

ccxt 4.5.90 itself makes every request: its HTTP layer (``requests.Session.request``) is
replaced by ``FakeCoinbase``, which answers from the real bodies below (each with where it came
from) and from ``../shared/data``. So the cassettes hold exactly the URLs ccxt sends and the
bodies Coinbase sends. The request plans (``since``/``limit`` per page) are written out here, not
produced by hmas, so replaying them also checks hmas's pagination. Output is deterministic:
running the script twice gives identical files. See README.md for the provenance table.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlparse

import ccxt
import requests
from vcr.request import Request
from vcr.serialize import serialize
from vcr.serializers import yamlserializer

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2].parent / "shared" / "data"
HOUR_S = 3600
T0 = 1571270400  # 2019-10-17 00:00 UTC: the first of the ten newest hours of the CSV
FIXTURE_T = 1710327600  # 2024-03-13 11:00 UTC: ccxt's coinbaseexchange fetchOHLCV fixture

# --- coinbase (Advanced Trade, api.coinbase.com) ------------------------------------------

# GET /v2/currencies. Items verbatim from the ``info`` of ccxt's
# ts/src/test/static/currencies/coinbase.json (ccxt/ccxt@178eebddc0555a4ce1b6d31b3b658e0e8f3481bb).
V2_CURRENCIES = json.loads("""{"data": [
  {"id": "EUR", "name": "Euro", "min_size": "0.01"},
  {"id": "USD", "name": "United States Dollar", "min_size": "0.01"}
]}""")

# GET /v2/currencies/crypto. Items verbatim from Coinbase's "Data API - Currencies" page
# (docs.cdp.coinbase.com/coinbase-app/track-apis/currencies), wrapped in "data" as ccxt reads it.
V2_CURRENCIES_CRYPTO = json.loads(r"""{"data": [
  {"code": "BTC", "name": "Bitcoin", "color": "#F7931A", "sort_index": 100, "exponent": 8,
   "type": "crypto",
   "address_regex": "^([13][a-km-zA-HJ-NP-Z1-9]{25,34})|^(bc1[qzry9x8gf2tvdw0s3jn54khce6mua7l]([qpzry9x8gf2tvdw0s3jn54khce6mua7l]{38}|[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}))$",
   "asset_id": "5b71fc48-3dd3-540c-809b-f8c94d0e68b5"},
  {"code": "ETH", "name": "Ethereum", "color": "#627EEA", "sort_index": 102, "exponent": 8,
   "type": "crypto", "address_regex": "^(?:0x)?[0-9a-fA-F]{40}$",
   "asset_id": "d85dce9b-5b73-5c3c-8978-522ce1d1c1b4"}
]}""")  # noqa: E501

# GET /v2/exchange-rates. Seven of the rates of a recorded response, verbatim:
# bennycode/coinbase-pro-node src/test/fixtures/rest/v2/exchange-rates/GET-200.json
# (@533cb6370974fb76e1e6cd91548184d4133fab84).
V2_EXCHANGE_RATES = json.loads("""{"data": {"currency": "USD", "rates": {
  "EUR": "1.0208", "GBP": "0.89617", "USD": "1.0", "BTC": "0.0000507144268091",
  "ETH": "0.0007392922755047", "USDC": "1", "USDT": "0.9999550020249089"
}}}""")

# GET /api/v3/brokerage/market/products[?product_type=FUTURE]. Product objects verbatim from the
# ``info`` of ccxt's ts/src/test/static/markets/coinbase.json
# (ccxt/ccxt@1ddbcbfd1a915d556ae83b3a2de9f21743abf144). The envelope and the string
# ``num_products`` follow the response quoted in ccxt's coinbase.fetch_markets_v3.
AT_PRODUCTS_SPOT = json.loads("""[
  {"product_id": "BTC-USD", "price": "103459.11",
   "price_percentage_change_24h": "-0.31484054621308", "volume_24h": "9035.28731773",
   "volume_percentage_change_24h": "7.92405208061416", "base_increment": "0.00000001",
   "quote_increment": "0.01", "quote_min_size": "1", "quote_max_size": "150000000",
   "base_min_size": "0.00000001", "base_max_size": "3400", "base_name": "Bitcoin",
   "quote_name": "US Dollar", "watched": false, "is_disabled": false, "new": false,
   "status": "online", "cancel_only": false, "limit_only": false, "post_only": false,
   "trading_disabled": false, "auction_mode": false, "product_type": "SPOT",
   "quote_currency_id": "USD", "base_currency_id": "BTC", "fcm_trading_session_details": null,
   "mid_market_price": "", "alias": "", "alias_to": ["BTC-USDC"], "base_display_symbol": "BTC",
   "quote_display_symbol": "USD", "view_only": false, "price_increment": "0.01",
   "display_name": "BTC-USD", "product_venue": "CBE",
   "approximate_quote_24h_volume": "934782784.49", "new_at": "2023-01-01T00:00:00Z"},
  {"product_id": "BTC-USDC", "price": "103459.11",
   "price_percentage_change_24h": "-0.31484054621308", "volume_24h": "9035.28731773",
   "volume_percentage_change_24h": "7.92405208061416", "base_increment": "0.00000001",
   "quote_increment": "0.01", "quote_min_size": "1", "quote_max_size": "150000000",
   "base_min_size": "0.00000001", "base_max_size": "3400", "base_name": "Bitcoin",
   "quote_name": "USDC", "watched": false, "is_disabled": false, "new": false,
   "status": "online", "cancel_only": false, "limit_only": false, "post_only": false,
   "trading_disabled": false, "auction_mode": false, "product_type": "SPOT",
   "quote_currency_id": "USDC", "base_currency_id": "BTC", "fcm_trading_session_details": null,
   "mid_market_price": "", "alias": "BTC-USD", "alias_to": [], "base_display_symbol": "BTC",
   "quote_display_symbol": "USD", "view_only": false, "price_increment": "0.01",
   "display_name": "BTC-USDC", "product_venue": "CBE",
   "approximate_quote_24h_volume": "934782784.49", "new_at": "2023-01-01T00:00:00Z"},
  {"product_id": "BTC-USDT", "price": "103400.79",
   "price_percentage_change_24h": "-0.30212852365164", "volume_24h": "147.77271455",
   "volume_percentage_change_24h": "-1.23256174164633", "base_increment": "0.00000001",
   "quote_increment": "0.01", "quote_min_size": "1", "quote_max_size": "10000000",
   "base_min_size": "0.00000001", "base_max_size": "400", "base_name": "Bitcoin",
   "quote_name": "Tether", "watched": false, "is_disabled": false, "new": false,
   "status": "online", "cancel_only": false, "limit_only": false, "post_only": false,
   "trading_disabled": false, "auction_mode": false, "product_type": "SPOT",
   "quote_currency_id": "USDT", "base_currency_id": "BTC", "fcm_trading_session_details": null,
   "mid_market_price": "", "alias": "", "alias_to": [], "base_display_symbol": "BTC",
   "quote_display_symbol": "USDT", "view_only": false, "price_increment": "0.01",
   "display_name": "BTC-USDT", "product_venue": "CBE",
   "approximate_quote_24h_volume": "15279815.42", "new_at": "2023-01-01T00:00:00Z"},
  {"product_id": "ETH-USDT", "price": "2584.11",
   "price_percentage_change_24h": "0.9966348916013", "volume_24h": "10623.18175615",
   "volume_percentage_change_24h": "30.15516305669346", "base_increment": "0.00000001",
   "quote_increment": "0.01", "quote_min_size": "1", "quote_max_size": "10000000",
   "base_min_size": "0.00000001", "base_max_size": "6200", "base_name": "Ethereum",
   "quote_name": "Tether", "watched": false, "is_disabled": false, "new": false,
   "status": "online", "cancel_only": false, "limit_only": false, "post_only": false,
   "trading_disabled": false, "auction_mode": false, "product_type": "SPOT",
   "quote_currency_id": "USDT", "base_currency_id": "ETH", "fcm_trading_session_details": null,
   "mid_market_price": "", "alias": "", "alias_to": [], "base_display_symbol": "ETH",
   "quote_display_symbol": "USDT", "view_only": false, "price_increment": "0.01",
   "display_name": "ETH-USDT", "product_venue": "CBE",
   "approximate_quote_24h_volume": "27451470.21", "new_at": "2023-01-01T00:00:00Z"}
]""")

AT_PRODUCTS_FUTURE = json.loads("""[
  {"product_id": "BTC-PERP-INTX", "price": "103472",
   "price_percentage_change_24h": "-0.32444262914127", "volume_24h": "180453.1648",
   "volume_percentage_change_24h": "51.75637128258243", "base_increment": "0.0001",
   "quote_increment": "0.1", "quote_min_size": "10", "quote_max_size": "50000000",
   "base_min_size": "0.0001", "base_max_size": "1000000000000000000", "base_name": "",
   "quote_name": "USDC", "watched": false, "is_disabled": false, "new": false,
   "status": "STANDARD", "cancel_only": false, "limit_only": false, "post_only": false,
   "trading_disabled": false, "auction_mode": false, "product_type": "FUTURE",
   "quote_currency_id": "USDC", "base_currency_id": "", "fcm_trading_session_details": null,
   "mid_market_price": "103471.95", "alias": "", "alias_to": [], "base_display_symbol": "",
   "quote_display_symbol": "USDC", "view_only": false, "price_increment": "0.1",
   "display_name": "BTC PERP", "product_venue": "INTX",
   "approximate_quote_24h_volume": "18671849868.2", "new_at": null,
   "future_product_details": {"venue": "", "contract_code": "BTC", "contract_expiry": null,
     "contract_size": "1", "contract_root_unit": "BTC", "group_description": "",
     "contract_expiry_timezone": "", "group_short_description": "",
     "risk_managed_by": "MANAGED_BY_VENUE", "contract_expiry_type": "PERPETUAL",
     "perpetual_details": {"open_interest": "3727.4571", "funding_rate": "0.000011",
       "funding_time": "2025-05-14T15:00:00.000072Z", "max_leverage": "20",
       "base_asset_uuid": "5b71fc48-3dd3-540c-809b-f8c94d0e68b5", "underlying_type": "SPOT"},
     "contract_display_name": "BTC PERPETUAL", "time_to_expiry_ms": "0", "non_crypto": false,
     "contract_expiry_name": "", "twenty_four_by_seven": false, "funding_interval": null}},
  {"product_id": "BIT-26APR24-CDE", "price": "64940",
   "price_percentage_change_24h": "-1.43431737117705", "volume_24h": "82309",
   "volume_percentage_change_24h": "0", "base_increment": "1", "quote_increment": "0.01",
   "quote_min_size": "0", "quote_max_size": "100000000", "base_min_size": "1",
   "base_max_size": "100000000", "base_name": "", "quote_name": "US Dollar", "watched": false,
   "is_disabled": false, "new": false, "status": "", "cancel_only": false,
   "limit_only": false, "post_only": false, "trading_disabled": false, "auction_mode": false,
   "product_type": "FUTURE", "quote_currency_id": "USD", "base_currency_id": "",
   "fcm_trading_session_details": {"is_session_open": true,
     "open_time": "2024-04-14T22:00:00Z", "close_time": "2024-04-15T21:00:00Z"},
   "mid_market_price": "65050", "alias": "", "alias_to": [], "base_display_symbol": "",
   "quote_display_symbol": "USD", "view_only": false, "price_increment": "5",
   "display_name": "BTC 26 APR 24", "product_venue": "FCM",
   "future_product_details": {"venue": "cde", "contract_code": "BIT",
     "contract_expiry": "2024-04-26T15:00:00Z", "contract_size": "0.01",
     "contract_root_unit": "BTC", "group_description": "Nano Bitcoin Futures",
     "contract_expiry_timezone": "Europe/London", "group_short_description": "Nano BTC",
     "risk_managed_by": "MANAGED_BY_FCM", "contract_expiry_type": "EXPIRING",
     "contract_display_name": "BTC 26 APR 24"}}
]""")

# A 429 from the Advanced Trade gateway is an HTML page, not JSON: the opening of the page
# quoted in coinbase-samples/advanced-trade-sdk-go#18 (the rest of it is not public), closed.
AT_429 = (
    "<html>\n  <head>\n    <title>Coinbase</title>\n"
    '    <meta name="robots" content="noindex">\n  </head>\n</html>\n'
)
# A 500 from Advanced Trade, verbatim from ccxt/ccxt#18060.
AT_500 = '{"error":"INTERNAL","error_details":"internal error","message":"internal error"}'

# --- coinbaseexchange (api.exchange.coinbase.com) ------------------------------------------

# GET /currencies. Items verbatim from the ``info`` of ccxt's
# ts/src/test/static/currencies/coinbaseexchange.json
# (ccxt/ccxt@1f05483026cd2b8f0d599f5e99208c8759b1d86f); ``supported_networks`` keeps only each
# currency's ``default_network`` entry.
EX_CURRENCIES = json.loads("""[
  {"id": "BTC", "name": "Bitcoin", "min_size": "0.00000001", "status": "online", "message": "",
   "max_precision": "0.00000001", "convertible_to": [],
   "details": {"type": "crypto", "symbol": "\u20bf", "network_confirmations": "2",
     "sort_order": "20",
     "crypto_address_link": "https://live.blockcypher.com/btc/address/{{address}}",
     "crypto_transaction_link": "https://live.blockcypher.com/btc/tx/{{txId}}",
     "push_payment_methods": ["crypto"], "group_types": ["btc", "crypto"],
     "display_name": null, "processing_time_seconds": null,
     "min_withdrawal_amount": "0.0001", "max_withdrawal_amount": "2400"},
   "default_network": "bitcoin",
   "supported_networks": [
     {"id": "bitcoin", "name": "Bitcoin", "status": "online", "contract_address": null,
      "crypto_address_link": "https://live.blockcypher.com/btc/address/{{address}}",
      "crypto_transaction_link": "https://live.blockcypher.com/btc/tx/{{txId}}",
      "min_withdrawal_amount": "0.0001", "max_withdrawal_amount": "2400",
      "network_confirmations": "2", "processing_time_seconds": null,
      "destination_tag_regex": null, "is_evm_network": false}],
   "display_name": "BTC"},
  {"id": "USDT", "name": "Tether", "min_size": "0.000001", "status": "online", "message": "",
   "max_precision": "0.000001", "convertible_to": [],
   "details": {"type": "crypto", "symbol": null, "network_confirmations": "14",
     "sort_order": "0",
     "crypto_address_link": "https://etherscan.io/token/0xdac17f958d2ee523a2206206994597c13d831ec7?a={{address}}",
     "crypto_transaction_link": "https://etherscan.io/tx/0x{{txId}}",
     "push_payment_methods": [], "group_types": [], "display_name": null,
     "processing_time_seconds": null, "min_withdrawal_amount": "0.000001",
     "max_withdrawal_amount": "20000000"},
   "default_network": "ethereum",
   "supported_networks": [
     {"id": "ethereum", "name": "Ethereum", "status": "online",
      "contract_address": "0xdac17f958d2ee523a2206206994597c13d831ec7",
      "crypto_address_link": "https://etherscan.io/token/0xdac17f958d2ee523a2206206994597c13d831ec7?a={{address}}",
      "crypto_transaction_link": "https://etherscan.io/tx/0x{{txId}}",
      "min_withdrawal_amount": "0.000001", "max_withdrawal_amount": "20000000",
      "network_confirmations": "14", "processing_time_seconds": null,
      "destination_tag_regex": null, "is_evm_network": true}],
   "display_name": "USDT"}
]""")


# GET /products. Product objects verbatim from the ``info`` of ccxt's
# ts/src/test/static/markets/coinbaseexchange.json
# (ccxt/ccxt@e72fb66ed9baacd1784b2ca27f2b60fe6a360b9c).
EX_PRODUCTS = json.loads("""[
  {"id": "BTC-USDT", "base_currency": "BTC", "quote_currency": "USDT", "quote_increment": "0.01",
   "base_increment": "0.00000001", "display_name": "BTC-USDT", "min_market_funds": "1",
   "margin_enabled": false, "post_only": false, "limit_only": false, "cancel_only": false,
   "status": "online", "status_message": "", "trading_disabled": false,
   "fx_stablecoin": false, "max_slippage_percentage": "0.03000000", "auction_mode": false,
   "high_bid_limit_percentage": ""},
  {"id": "BTC-USD", "base_currency": "BTC", "quote_currency": "USD", "quote_increment": "0.01",
   "base_increment": "0.00000001", "display_name": "BTC-USD", "min_market_funds": "1",
   "margin_enabled": false, "post_only": false, "limit_only": false, "cancel_only": false,
   "status": "online", "status_message": "", "trading_disabled": false,
   "fx_stablecoin": false, "max_slippage_percentage": "0.02000000", "auction_mode": false,
   "high_bid_limit_percentage": ""},
  {"id": "ETH-USDT", "base_currency": "ETH", "quote_currency": "USDT", "quote_increment": "0.01",
   "base_increment": "0.00000001", "display_name": "ETH-USDT", "min_market_funds": "1",
   "margin_enabled": false, "post_only": false, "limit_only": false, "cancel_only": false,
   "status": "online", "status_message": "", "trading_disabled": false,
   "fx_stablecoin": false, "max_slippage_percentage": "0.03000000", "auction_mode": false,
   "high_bid_limit_percentage": ""}
]""")
# Error bodies: the Exchange answers {"message": ...}. The 429 text is the one gekko#2859
# reports for public endpoints (same envelope as ccxt/ccxt#6448); the 500 body is the one in
# coinbase/coinbase-pro-node#261 (35 bytes, the Content-Length seen in #384).
EX_429 = '{"message":"Public rate limit exceeded"}'
EX_500 = '{"message":"Internal server error"}'

# --- candles -------------------------------------------------------------------------------

Candles = dict[str, dict[int, list[str]]]  # product -> {open time in s: [o, h, l, c, v] as text}


def real_candles() -> Candles:
    """Coinbase BTC/USD hours from the CSV, and the BTC/USDT hour of ccxt's own fixture."""
    with (SHARED / "ohlcv" / "coinbase_btc_usd_1h.csv").open(newline="") as fh:
        next(fh)  # the CryptoDataDownload banner
        hours = {
            _csv_time(r["date"]): [r["open"], r["high"], r["low"], r["close"], r["volume_btc"]]
            for r in csv.DictReader(fh)
        }
    fixture = json.loads((SHARED / "exchange" / FIXTURE).read_text())
    # The wire row is [time, low, high, open, close, volume].
    (wire,) = fixture["methods"]["fetchOHLCV"][0]["httpResponse"]
    t, low, high, open_, close, volume = (json.dumps(v) for v in wire)
    assert int(t) == FIXTURE_T
    return {"BTC-USD": hours, "BTC-USDT": {FIXTURE_T: [open_, high, low, close, volume]}}


def _csv_time(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d %I-%p").replace(tzinfo=UTC).timestamp())


FIXTURE = "ccxt_static_response_coinbaseexchange.json"
JSON = "application/json; charset=utf-8"
REASONS = {200: "OK", 429: "Too Many Requests", 500: "Internal Server Error"}


class FakeCoinbase:
    """Answers ccxt's requests as Coinbase would, from the real bodies above."""

    def __init__(self, candles: Candles) -> None:
        self.candles = candles
        self.now_s = 0  # the server's clock: decides which hour is still open
        self.candle_errors: list[int] = []  # statuses for the next candle requests

    def respond(self, url: str) -> tuple[int, str, str]:
        """(status, content type, body) for a GET of ``url``."""
        parsed = urlparse(url)
        path, query = parsed.path, parse_qs(parsed.query)
        advanced = parsed.hostname == "api.coinbase.com"
        if path.endswith("/candles"):
            if self.candle_errors:
                return self._error(self.candle_errors.pop(0), advanced)
            return 200, JSON, self._candles(path.split("/")[-2], query, advanced)
        if path == "/api/v3/brokerage/market/products":
            future = query.get("product_type") == ["FUTURE"]
            products = AT_PRODUCTS_FUTURE if future else AT_PRODUCTS_SPOT
            return 200, JSON, _dumps({"products": products, "num_products": str(len(products))})
        bodies: dict[str, Any] = {
            "/v2/currencies": V2_CURRENCIES,
            "/v2/currencies/crypto": V2_CURRENCIES_CRYPTO,
            "/v2/exchange-rates": V2_EXCHANGE_RATES,
            "/currencies": EX_CURRENCIES,
            "/products": EX_PRODUCTS,
        }
        return 200, JSON, _dumps(bodies[path])

    @staticmethod
    def _error(status: int, advanced: bool) -> tuple[int, str, str]:
        if status == 429:
            return (429, "text/html", AT_429) if advanced else (429, JSON, EX_429)
        return status, JSON, AT_500 if advanced else EX_500

    def _candles(self, product: str, query: dict[str, list[str]], advanced: bool) -> str:
        if advanced:
            # Unix seconds. Advanced Trade answers (end - start) / granularity candles, so the
            # end is exclusive (e.g. 348 one-minute candles for a 348-minute window in the log
            # of hummingbot/hummingbot#6889).
            assert query["granularity"] == ["ONE_HOUR"], query
            start, end = int(query["start"][0]), int(query["end"][0]) - 1
        else:
            # ISO 8601, both ends inclusive: ccxt asks for limit - 1 steps past the start.
            assert query["granularity"] == ["3600"], query
            start, end = (_iso_seconds(query[key][0]) for key in ("start", "end"))
        # Newest first, the still-open hour included, as Coinbase answers.
        hours = self.candles[product]
        times = sorted((t for t in hours if start <= t <= min(end, self.now_s)), reverse=True)
        if advanced:
            keys = ("start", "low", "high", "open", "close", "volume")
            candles = [dict(zip(keys, _wire(t, hours[t]), strict=True)) for t in times]
            return _dumps({"candles": [{k: str(v) for k, v in c.items()} for c in candles]})
        return "[" + ",".join("[" + ",".join(_wire(t, hours[t])) + "]" for t in times) + "]"


def _wire(t: int, ohlcv: list[str]) -> list[str]:
    """Coinbase's order for a candle: time, LOW, HIGH, OPEN, CLOSE, volume."""
    open_, high, low, close, volume = ohlcv
    return [str(t), low, high, open_, close, volume]


def _dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _iso_seconds(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


Interactions = tuple[list[Request], list[dict[str, Any]]]


def record(server: FakeCoinbase, scenario: Callable[[], None]) -> Interactions:
    """Run ``scenario`` (ccxt calls) against ``server``; every request and answer, in order."""
    sent: list[Request] = []
    answers: list[dict[str, Any]] = []

    def fake_request(
        session: requests.Session, method: str, url: str, **kw: Any
    ) -> requests.Response:
        status, content_type, body = server.respond(url)
        sent.append(Request(method, url, None, dict(kw.get("headers") or {})))
        answers.append(
            {
                "status": {"code": status, "message": REASONS[status]},
                "headers": {"Content-Type": [content_type]},
                "body": {"string": body},
            }
        )
        response = requests.Response()
        response.status_code, response.reason, response.url = status, REASONS[status], url
        response.headers["Content-Type"] = content_type
        response._content = body.encode()
        return response

    with mock.patch.object(requests.Session, "request", fake_request):
        scenario()
    return sent, answers


def scenarios(exchange_id: str, server: FakeCoinbase) -> Iterator[tuple[str, Callable[[], None]]]:
    """(cassette name, ccxt calls) for one exchange: the request plans the tests replay."""

    def run(*plan: tuple[int, int], now: int, errors: int = 0, status: int = 0) -> None:
        """A fresh exchange (markets loaded) asking for ``(since_s, limit)`` pages at ``now``."""
        server.now_s, server.candle_errors = now, [status] * errors
        exchange = getattr(ccxt, exchange_id)({"enableRateLimit": False, "timeout": 30000})
        exchange.load_markets()
        symbol = "BTC/USDT" if plan and plan[0][0] == FIXTURE_T else "BTC/USD"
        for since, limit in plan:
            # An error answer is recorded all the same; hmas's retry asks again.
            with contextlib.suppress(ccxt.BaseError):
                exchange.fetch_ohlcv(symbol, "1h", since * 1000, limit)

    h, at_0920 = HOUR_S, T0 + 9 * HOUR_S + 1200

    def incremental() -> None:
        run((T0, 3), (T0 + 3 * h, 3), now=T0 + 6 * h + 1200)  # a run at 06:20
        run((T0 + 6 * h, 3), now=at_0920)  # the next run, at 09:20, resumes at 06:00

    yield "markets", lambda: run(now=at_0920)
    # At 09:20 hours 00..08 are closed and 09 is open; pages of 4 from 00, 04 and 08.
    yield "pages", lambda: run((T0, 4), (T0 + 4 * h, 4), (T0 + 8 * h, 4), now=at_0920)
    yield "incremental", incremental
    # One default-size page, answered 429 twice, then 200.
    yield "rate_limited", lambda: run(*[(T0, 300)] * 3, now=at_0920, errors=2, status=429)
    # One default-size page answered 500 three times: hmas gives up after retries=2.
    yield "server_error", lambda: run(*[(T0, 300)] * 3, now=at_0920, errors=3, status=500)
    # ccxt's real 2024-03-13 11:00 BTC/USDT hour, asked for at 12:00.
    yield "real_hour", lambda: run((FIXTURE_T, 300), now=FIXTURE_T + h)


def main() -> None:
    """Write every cassette next to this script."""
    server = FakeCoinbase(real_candles())
    for exchange_id in ("coinbase", "coinbaseexchange"):
        for name, scenario in scenarios(exchange_id, server):
            sent, answers = record(server, scenario)
            path = HERE / f"{exchange_id}_{name}.yaml"
            path.write_text(serialize({"requests": sent, "responses": answers}, yamlserializer))
            print(f"{path.name}: {len(sent)} interactions")


if __name__ == "__main__":
    main()
