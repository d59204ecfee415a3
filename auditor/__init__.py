"""auditor: a transparency-log endorsement auditor for confidential-VM boot components."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("auditor")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
