"""Fixtures for log-source tests: the local Rekor of ``testlog`` (never the internet)."""

from testlog.pytest_plugin import endorsers, rekor_log, rekor_server

__all__ = ["endorsers", "rekor_log", "rekor_server"]
