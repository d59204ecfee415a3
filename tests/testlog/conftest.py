from testlog.pytest_plugin import endorsers, rekor_log, rekor_server

__all__ = ["endorsers", "rekor_log", "rekor_server"]
