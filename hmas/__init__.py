"""hmas: hierarchical multi-agent trading signals, stored, explained, replayed and backtested."""

__version__ = "0.1.0"
