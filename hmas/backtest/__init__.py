"""Backtests: the one decision over stored history, simulated on the one paper book.

- ``data``: the candles a backtest reads from the store (the range checked, the warm-up added)
  and the hash that proves which candles those were;
- ``strategy``: where the trades come from: the rules decision (``compute_history`` and the
  verdict, as live) or the reference RSI/Bollinger strategy;
- ``engine``: the walk over the bars in time order with the paper book, the guardian and the
  paper position rules; ``metrics``: every figure of a run; ``run``: one call that does it all;
- ``runs``: the runs kept in the store; ``export`` and ``plot``: files of a run;
- ``lookahead``: re-decides on history cut at a bar and reports any bar that changes.

Heavy modules (pandas, numpy, matplotlib) are imported inside them, never here.
"""
