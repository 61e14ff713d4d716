"""Fixtures for the metrics tests: the CLI runner of tests/cli."""

from tests.cli.conftest import hmas

__all__ = ["hmas"]
