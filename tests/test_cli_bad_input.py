"""Inputs found from outside to end in an internal error (exit 70), in a silent wrong answer,
or in the wrong exit code: each is now one line of error, exit 2, before any work is done."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli_runner import RunAudit
from tests.oakdata import OAK, RELEASE

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "reference_values" / "demo" / "oak.toml"
KERNEL = RELEASE / "components" / "kernel"
REKOR_KEY = OAK / "rekor_public_key.pem"


def _deep_config(tmp: Path) -> list[str]:
    # tomllib parses nested arrays recursively: a RecursionError, exit 70.
    path = tmp / "deep.toml"
    path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    return ["status", "--config", str(path)]


def _cmdline_for_a_kernel(tmp: Path) -> list[str]:
    # A manifest's cmdline on a component that takes an artifact: an AssertionError.
    path = tmp / "manifest.toml"
    path.write_text('name = "x"\n[components.kernel]\ncmdline = "console=ttyS0"\n')
    return ["reconcile", str(path)]


def _cmdline_not_utf8(tmp: Path) -> list[str]:
    # An argument's byte that is not UTF-8 reaches Python as a lone surrogate (PEP 383).
    return ["reconcile", "--cmdline", "console=\udcff"]


def _database_path_not_utf8(tmp: Path) -> list[str]:
    return ["status", "--db", str(tmp / "a\udcffb.db")]


def _signature_without_artifact(tmp: Path) -> list[str]:
    # Checked against nothing, the signature was passed over and the entry "verified".
    return ["verify-entry", str(KERNEL / "logentry.json"), "--rekor-key", str(REKOR_KEY),
            "--signature", str(KERNEL / "endorsement.json.sig")]


def _rekor_key_for_a_tlog_proof(tmp: Path) -> list[str]:
    entry = tmp / "entry"
    entry.write_bytes(b"test entry data")
    return ["verify-entry", str(OAK / "c2sp" / "test.tlog-proof"), "--artifact", str(entry),
            "--rekor-key", str(REKOR_KEY)]


def _malformed_uuid(tmp: Path) -> list[str]:
    # Sent to the log, it made the crawl incomplete (exit 3) without a word of the flag.
    return ["crawl", "--rekor-url", "http://127.0.0.1:9", "--rekor-key", str(REKOR_KEY),
            "--uuid", "zz"]


def _report_dir_is_a_file(tmp: Path) -> list[str]:
    # The whole run was done, its summary said "exit 0", then "File exists" and exit 2.
    (tmp / "reports").write_text("not a directory")
    return ["run", "--config", str(DEMO), "--offline", "--report-dir", str(tmp / "reports")]


def _metrics_under_a_file(tmp: Path) -> list[str]:
    (tmp / "file").write_text("not a directory")
    return ["run", "--config", str(DEMO), "--offline", "--metrics-file",
            str(tmp / "file" / "auditor.prom")]


def _suppression_without_rule(tmp: Path) -> list[str]:
    # It said "suppressions[0].rule None is not a known rule id".
    path = tmp / "auditor.toml"
    path.write_text('[[suppressions]]\nreason = "known"\nexpires = 2030-01-01\n')
    return ["findings", "--config", str(path)]


def _sqlite_url_with_a_query(tmp: Path) -> list[str]:
    # The driver dropped `mode=ro` with a warning of two lines and opened the file read-write.
    return ["db", "upgrade", "--db", f"sqlite:///{tmp / 'auditor.db'}?mode=ro"]


CASES: list[tuple[Callable[[Path], list[str]], str]] = [
    (_deep_config, "deep.toml: TOML config nested too deeply"),
    (_cmdline_for_a_kernel, "components.kernel: a cmdline is given only to a command line "
                            "component (such as kernel_cmd_line); kernel takes an artifact"),
    (_cmdline_not_utf8, "--cmdline is not UTF-8 text (byte 8)"),
    (_database_path_not_utf8, "a\\xffb.db' is not UTF-8 text"),
    (_signature_without_artifact, "--signature and --subject are checked against --artifact"),
    (_rekor_key_for_a_tlog_proof, "test.tlog-proof is a C2SP tlog-proof: --rekor-key and "
                                  "--trusted-root apply to a log entry or bundle"),
    (_malformed_uuid, "--uuid: not a 64- or 80-hex Rekor entry UUID: 'zz'"),
    (_report_dir_is_a_file, "cannot write reports into"),
    (_metrics_under_a_file, "cannot write the metrics file into"),
    (_sqlite_url_with_a_query, "auditor.db is named with query arguments (mode), which the "
                               "auditor does not take: name the file alone"),
    (_suppression_without_rule, "auditor.toml: suppressions[0]: a suppression needs the rule it "
                                "suppresses (rule = ...)"),
]


@pytest.mark.parametrize(("make", "says"), CASES, ids=[make.__name__[1:] for make, _ in CASES])
def test_bad_input_is_one_line_and_exit_2_before_any_work(
        audit: RunAudit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        make: Callable[[Path], list[str]], says: str) -> None:
    monkeypatch.setenv("AUDITOR_DB", f"sqlite:///{tmp_path / 'auditor.db'}")
    result = audit(*make(tmp_path))
    assert (result.exit_code, result.stdout) == (2, ""), result.stderr
    assert result.stderr.startswith("error: ") and says in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "audit run:" not in result.stderr  # refused before the run, not after it


def test_a_table_dropped_by_hand_is_a_damaged_schema_not_a_failure_mid_run(
        audit: RunAudit, db_url: str) -> None:
    """A query on a store whose findings table was dropped said "the database failed mid-run
    ...: what was stored before is kept" and exit 3 on SQLite, an internal error on
    PostgreSQL (its error is no OperationalError); `db upgrade` said all was well."""
    from sqlalchemy import create_engine, text

    assert audit("db", "upgrade").exit_code == 0
    engine = create_engine(db_url)
    with engine.begin() as connection:
        cascade = " CASCADE" if engine.dialect.name == "postgresql" else ""
        connection.execute(text(f"DROP TABLE findings{cascade}"))
    engine.dispose()
    result = audit("findings")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: the database's schema lacks what its revision has "
                                    "(") and "findings" in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1
    # `db upgrade` said "database at revision 0010 (was 0010)" and repaired nothing.
    upgraded = audit("db", "upgrade")
    assert upgraded.exit_code == 2, upgraded.stderr
    assert "lacks its table(s) findings: it was changed outside the auditor" in upgraded.stderr
