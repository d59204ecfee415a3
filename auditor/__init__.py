"""auditor: a transparency-log endorsement auditor for confidential-VM boot components."""


def __getattr__(name: str) -> str:
    # `__version__` is read from the installed metadata when first asked for:
    # importlib.metadata would cost every command (a query, --help) part of its start-up.
    if name != "__version__":
        raise AttributeError(f"module 'auditor' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("auditor")
    except PackageNotFoundError:  # running from a source tree that was never installed
        value = "0.0.0+source"
    globals()["__version__"] = value
    return value
