"""One settings path for every command: flag > environment > config file > default, read
strictly (a misspelt key is an error naming the nearest valid one), and what a new user tripped
over."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from auditor.errors import ConfigError, InputError
from auditor.findings import Finding, RuleId, Suppression
from auditor.settings import Flags, resolve
from testlog.tlog_proof import LogSigner
from tests.cli_runner import RunAudit
from tests.test_run import config as demo_config

DEMO = Path(__file__).resolve().parents[1] / "reference_values" / "demo"
RELEASE_KEY = Path(__file__).parent / "data/oak/oak-containers-milan-release/components/kernel/" \
    "endorser_public_key.pem"


def write(tmp_path: Path, text: str, name: str = "auditor.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "complaint"), [
    ('key_source = []\n', "unknown key 'key_source' in the top level; did you mean 'key_sources'?"),
    ('[[release]]\nname = "x"\nmanifest = "m.toml"\n',
     "unknown key 'release' in the top level; did you mean 'releases'?"),
    ('imports = []\n', "unknown key 'imports' in the top level; did you mean 'import'?"),
    ('[reprots]\nformats = ["json"]\n',
     "unknown key 'reprots' in the top level; did you mean 'reports'?"),
    ('[reconcile]\nexpected_sine = 2025-01-01\n',
     "unknown key 'expected_sine' in [reconcile]; did you mean 'expected_since'?"),
    ('[log]\nurll = "https://rekor.example"\n',
     "unknown key 'urll' in [log]; did you mean 'url'?"),
    ('[log]\nrequests_per_second = "4"\n', "log.requests_per_second must be a number"),
    ('[log]\nmax_retries = true\n', "log.max_retries must be an integer"),
    ('[reports]\nformats = ["pdf"]\n', "unknown report format 'pdf'"),
    ('[[suppressions]]\nrule = "WRONG_KEY"\nreason = "x"\nexpires = "soon"\n',
     "suppressions[0].expires must be a date"),
    ('[components.kernel]\nkeys = "not a list"\n', "components.kernel.keys must be a list"),
    # TOML's nan and inf: a NaN backoff passed the `< 0` check, and it and an infinite request
    # deadline were refused only at the first request, unnamed (an --offline trial passed).
    ('[log]\nbackoff_base = nan\n', "log.backoff_base must be a finite number, not nan"),
    ('[log]\nrequest_deadline = inf\n', "log.request_deadline must be a finite number, not inf"),
    ('[run]\ndeadline = inf\n', "run.deadline must be a finite number, not inf"),
    ('[index]\nrequests_per_second = -inf\n',
     "index.requests_per_second must be a finite number, not -inf"),
    ('[log]\nrequest_deadline = 0\n', "log.request_deadline must be a positive finite number"),
    ('[crawl]\nuuids = ["../index"]\n',
     "crawl.uuids[0]: not a 64- or 80-hex Rekor entry UUID: '../index'"),
])
def test_strict_config_names_the_key_and_the_nearest_valid_one(
        audit: RunAudit, tmp_path: Path, text: str, complaint: str) -> None:
    config = write(tmp_path, text)
    for command in (["run", "--offline"], ["status"], ["findings"], ["crawl"]):
        result = audit(*command, "--config", str(config))
        assert result.exit_code == 2, (command, result.stderr)
        assert complaint in result.stderr and str(config) in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize(("text", "key"), [
    ('[reports]\ndirectory = ""\n', "reports.directory"),  # no reports, said nothing
    ('[statements]\nsource = " "\n', "statements.source"),  # no statement store
    ('[database]\nurl = ""\n', "database.url"),  # the default database
    ('key_sources = [""]\n', "key_sources[0]"),  # the config's directory, "cannot read"
    ('[rekor_v2]\ncache = ""\n', "rekor_v2.cache"),  # tiles cached beside the config
    ('[[releases]]\nname = ""\nmanifest = "m.toml"\n', "releases[0].name"),
    ('[components.kernel]\ntlog_policy = ""\n', "components.kernel.tlog_policy"),
])
def test_an_empty_string_is_refused_naming_its_key(tmp_path: Path, text: str, key: str) -> None:
    """An empty value is a mistake, never "none": a path was the config's own directory and an
    empty report directory, statement store or database URL was taken as not given."""
    config = write(tmp_path, text)
    with pytest.raises(ConfigError) as refused:
        resolve(Flags(config=config), {})
    assert str(refused.value) == (f"{config}: {key} is empty: give a value or leave the key "
                                  "out")


def test_a_config_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """A UTF-8 byte order mark (Windows editors write one) was "not valid TOML config
    (Invalid statement (at line 1, column 1))"."""
    config = tmp_path / "auditor.toml"
    config.write_bytes(b'\xef\xbb\xbf[log]\nurl = "https://bom.example"\n')
    assert resolve(Flags(config=config), {}, default_keys=False).log.url == "https://bom.example"


def test_a_config_that_never_ends_is_refused_unread_past_its_bound() -> None:
    """`--config /dev/zero` (or a pipe that never ends) was read whole: exit 70, MemoryError."""
    with pytest.raises(ConfigError) as refused:
        resolve(Flags(config=Path("/dev/zero")), {})
    assert str(refused.value) == "/dev/zero: larger than 4194304 bytes, not a TOML config file"


def test_a_severity_is_read_in_any_case_in_the_file_as_in_flags(tmp_path: Path) -> None:
    """`[run] fail_on = "HIGH"` was taken and `[notify] min_severity = "HIGH"` refused."""
    config = write(tmp_path, '[run]\nfail_on = "HIGH"\n[notify]\nmin_severity = "Critical"\n')
    settings = resolve(Flags(config=config), {}, default_keys=False)
    assert settings.fail_on.value == "high"
    assert settings.notify is not None and settings.notify.min_severity.value == "critical"


def test_a_report_format_without_a_directory_is_refused_and_each_is_written_once(
        audit: RunAudit, tmp_path: Path) -> None:
    """`audit run --format md` without --report-dir wrote nothing and said nothing."""
    result = audit("run", "--offline", "--config", str(DEMO / "oak.toml"), "--format", "md",
                   "--db", f"sqlite:///{tmp_path / 'a.db'}")
    assert result.exit_code == 2 and "--report-dir" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    settings = resolve(Flags(report_dir=tmp_path, formats=("json", "md", "json")), {})
    assert settings.reports.formats_to_write() == ["json", "md"]


def test_precedence_is_flag_then_environment_then_file_then_default(tmp_path: Path) -> None:
    config = write(tmp_path, '[database]\nurl = "sqlite:///from-file.db"\n'
                   '[log]\nurl = "https://file.example"\n')
    environ = {"AUDITOR_DB": "sqlite:///from-env.db", "AUDITOR_REKOR_URL": "https://env.example"}
    flagged = resolve(Flags(config=config, db="sqlite:///from-flag.db"), environ)
    assert flagged.database_url == "sqlite:///from-flag.db"
    assert flagged.log.url == "https://env.example"
    assert flagged.overrides == {"log URL": "environment AUDITOR_REKOR_URL"}
    from_file = resolve(Flags(config=config), {})
    in_file = f"sqlite:///{tmp_path / 'from-file.db'}"  # relative to the config file
    assert (from_file.database_url, from_file.log.url) == (in_file, "https://file.example")
    assert from_file.overrides == {}
    default = resolve(Flags(), {})
    assert default.log.url == "https://rekor.sigstore.dev" and default.database_url.endswith(
        "auditor.db")
    via_env = resolve(Flags(), {"AUDITOR_CONFIG": str(config)})
    assert via_env.database_url == in_file


def test_a_log_key_flag_overrides_the_environments_trusted_root_and_the_other_way_round(
        tmp_path: Path) -> None:
    """Log keys and a trusted root are one setting: `--rekor-key` where the service environment
    sets AUDITOR_TRUSTED_ROOT (or `--trusted-root` over AUDITOR_REKOR_KEY) was refused as giving
    both, where the flag outranks the environment."""
    pem, root = tmp_path / "log.pem", tmp_path / "root.json"
    keyed = resolve(Flags(rekor_keys=(pem,)), {"AUDITOR_TRUSTED_ROOT": str(root)},
                    default_keys=False)
    assert keyed.log.rekor_keys == [pem] and keyed.log.trusted_root == "sigstore-production"
    assert keyed.overrides["log keys"] == "flag --rekor-key"
    rooted = resolve(Flags(trusted_root=root), {"AUDITOR_REKOR_KEY": str(pem)},
                     default_keys=False)
    assert rooted.log.trusted_root == str(root) and rooted.log.rekor_keys == []
    assert rooted.overrides["log keys"] == "flag --trusted-root"
    with pytest.raises(ConfigError, match=r"^give either --rekor-key or --trusted-root"):
        resolve(Flags(rekor_keys=(pem,), trusted_root=root), {}, default_keys=False)
    with pytest.raises(ConfigError,
                       match=r"^set either AUDITOR_REKOR_KEY or AUDITOR_TRUSTED_ROOT, not both$"):
        resolve(Flags(), {"AUDITOR_REKOR_KEY": str(pem), "AUDITOR_TRUSTED_ROOT": str(root)},
                default_keys=False)


@pytest.mark.parametrize(("variable", "value", "named"), [
    ("AUDITOR_FAIL_ON", "severe", "AUDITOR_FAIL_ON 'severe': choose one of info, low"),
    ("AUDITOR_KEY", "kernel", "AUDITOR_KEY 'kernel': expected COMPONENT=PEM_FILE"),
    ("AUDITOR_KEY", "kernel=/nonexistent.pem", "AUDITOR_KEY 'kernel=/nonexistent.pem': cannot"),
    ("AUDITOR_INDEX_KEYSET", "x", "AUDITOR_INDEX_KEYSET: 'x' is not a typed hash"),
])
def test_a_bad_value_from_the_environment_names_the_variable_not_a_flag(
        audit: RunAudit, variable: str, value: str, named: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Set by a unit's Environment=, it was reported as a flag nobody typed (`--fail-on`)."""
    monkeypatch.setenv(variable, value)
    result = audit("run", "--offline", "--db", "sqlite://")
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {named}"), result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_key_file_of_two_keys_is_refused_not_cut_to_its_first(
        audit: RunAudit, tmp_path: Path) -> None:
    """Two PEM keys pasted into one file: `--key` and `--rekor-key` pinned the first and
    silently not the second (a config's `keys` entry of two blocks too)."""
    tests_data = Path(__file__).parent / "data/oak"
    two = tmp_path / "two.pem"
    two.write_bytes(RELEASE_KEY.read_bytes() + (tests_data / "rekor_public_key.pem").read_bytes())
    for command in (["run", "--offline", "--key", f"kernel={two}"],
                    ["crawl", "--rekor-url", "http://127.0.0.1:9", "--rekor-key", str(two)]):
        result = audit(*command, "--db", "sqlite://")
        assert result.exit_code == 2, result.stderr
        assert result.stderr == f"error: {two}: holds 2 PEM blocks, where one key or " \
            "certificate is read: give each key on its own\n"
    pem = two.read_text()
    config = write(tmp_path, f'[components.kernel]\nkeys = ["""{pem}"""]\n')
    with pytest.raises(InputError, match=r"components\.kernel\.keys\[0\]: holds 2 PEM blocks"):
        resolve(Flags(config=config), {})


def _other_key(kind: str) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    private = {"ecdsa-secp384r1": lambda: ec.generate_private_key(ec.SECP384R1()),
               "rsa-2048": lambda: rsa.generate_private_key(65537, 2048),
               "ed25519": ed25519.Ed25519PrivateKey.generate}[kind]()
    return private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("kind", ["ecdsa-secp384r1", "rsa-2048", "ed25519"])
def test_an_endorser_key_oak_does_not_sign_with_is_refused_naming_its_component(
        audit: RunAudit, tmp_path: Path, kind: str) -> None:
    """Oak signs endorsements with ECDSA P-256 only (its reference values refuse any other
    endorser key): a P-384, RSA or Ed25519 component key was pinned, matched no endorsement,
    and every one under the real key looked unexpected."""
    pem = tmp_path / "other.pem"
    pem.write_bytes(_other_key(kind))
    result = audit("run", "--offline", "--key", f"kernel={pem}", "--db", "sqlite://")
    assert result.exit_code == 2, result.stderr
    assert result.stderr == (f"error: --key kernel: component 'kernel': its key is {kind}, where "
                             "endorser keys are ECDSA P-256 (ecdsa-secp256r1), the one type Oak "
                             "signs endorsements with\n")
    config = write(tmp_path, f'[components.stage0]\nkeys = ["""{pem.read_text()}"""]\n')
    with pytest.raises(ConfigError, match=rf"^{config}: component 'stage0': its key is {kind},"):
        resolve(Flags(config=config), {})
    # The real release key (P-256) is taken.
    assert resolve(Flags(keys=(f"kernel={RELEASE_KEY}",)), {}).keyset.keys_for("kernel")


@pytest.mark.parametrize("kind", ["ecdsa-secp384r1", "rsa-2048", "ed25519"])
def test_verify_entry_refuses_an_endorser_key_oak_does_not_sign_with(
        audit: RunAudit, tmp_path: Path, kind: str) -> None:
    """`audit verify-entry --key` took any key type, where a pinned one is refused (the same
    check, `require_endorser_key`): the entry was checked against a key no Oak endorsement
    is signed by."""
    pem = tmp_path / "other.pem"
    pem.write_bytes(_other_key(kind))
    entry = str(RELEASE_KEY.parent / "logentry.json")
    for spec in (str(pem), f"kernel={pem}"):
        result = audit("verify-entry", entry, "--key", spec)
        assert result.exit_code == 2, result.stderr
        assert result.stderr == (f"error: --key {pem}: its key is {kind}, where endorser keys "
                                 "are ECDSA P-256 (ecdsa-secp256r1), the one type Oak signs "
                                 "endorsements with\n")
    assert audit("verify-entry", entry, "--key", str(RELEASE_KEY)).exit_code == 0


@pytest.mark.parametrize(("manifest", "complaint"), [
    ('evidense = "evidence.binarypb"\n[components.kernel_cmd_line]\ncmdline = "x"\n',
     "unknown key 'evidense' in the top level; did you mean 'evidence'?"),
    ('evidence = "e.binarypb"\n[component.kernel]\nartifact = "bzImage"\n',
     "unknown key 'component' in the top level; did you mean 'components'?"),
    ('[components.kernel_cmd_line]\ncmdline = "x"\nartifact = "cmdline.txt"\n',
     "components.kernel_cmd_line needs an artifact or a cmdline (one of them)"),
    ('name = 7\n[components.kernel_cmd_line]\ncmdline = "x"\n', "name must be a non-empty string"),
])
def test_a_release_manifest_is_read_strictly(audit: RunAudit, tmp_path: Path, manifest: str,
                                             complaint: str) -> None:
    """A misspelt key of a manifest was ignored (the release reconciled without its evidence
    or a component), as was one of an artifact and a cmdline given together."""
    write(tmp_path, manifest, "m.toml")
    config = write(tmp_path, '[[releases]]\nmanifest = "m.toml"\n')
    result = audit("run", "--offline", "--config", str(config), "--db", "sqlite://")
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'm.toml'}: {complaint}\n"


def test_a_release_is_named_by_its_manifest_unless_the_config_names_it(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    """Without a `name` in `[[releases]]` the release was named after the manifest's file
    (`m`), its own `name` ignored; two releases of one name were reported as one."""
    write(tmp_path, 'name = "2025-06"\n[components.kernel_cmd_line]\ncmdline = "x"\n', "m.toml")
    write(tmp_path, '[components.kernel_cmd_line]\ncmdline = "y"\n', "other.toml")
    config = write(tmp_path, '[[releases]]\nmanifest = "m.toml"\n'
                   '[[releases]]\nmanifest = "other.toml"\n')
    result = audit("run", "--offline", "--config", str(config), "--json")
    names = [r["name"] for r in json.loads(result.stdout)["releases"]]
    assert names == ["2025-06", "other"]
    config = write(tmp_path, '[[releases]]\nmanifest = "m.toml"\n'
                   '[[releases]]\nname = "2025-06"\nmanifest = "other.toml"\n')
    result = audit("run", "--offline", "--config", str(config))
    assert result.exit_code == 2
    assert result.stderr == (f"error: releases: {tmp_path / 'm.toml'} and "
                             f"{tmp_path / 'other.toml'} are both named '2025-06': give each "
                             "release its own name\n")


@pytest.mark.parametrize(("text", "complaint"), [
    ('[[tiled_logs]]\nurl = "https://log.example/t"\nverifier = "log.example/t"\n',
     "tiled log https://log.example/t: verifier key 'log.example/t' is not <name>+<key id>+<key>"),
    ('[[tiled_logs]]\nurl = "https://log.example/t"\nverifier = "VKEY"\nscan_range = 100\n',
     "tiled log https://log.example/t: scan_range must be a positive multiple of 256, not 100"),
    ('[[tiled_logs]]\nurl = "https://log.example/t"\nverifier = "VKEY"\npolicy = "no.txt"\n',
     "cannot read"),
    ('[log]\nrekor_keys = ["no.pem"]\n', "no.pem: cannot read (No such file or directory)"),
    ('[log]\ntrusted_root = "no.json"\n', "no.json: cannot read (No such file or directory)"),
])
def test_an_offline_run_refuses_the_log_settings_an_online_one_would(
        audit: RunAudit, tmp_path: Path, text: str, complaint: str) -> None:
    """`audit run --offline` is how a config is tried before cron runs it online: it passed
    a tiled log's bad key or scan range and missing log keys, which every online run refused."""
    write(tmp_path, 'name = "r"\n[components.kernel_cmd_line]\ncmdline = "x"\n', "m.toml")
    vkey = LogSigner("log.example/t").vkey
    config = write(tmp_path, text.replace("VKEY", vkey)
                   + '[[releases]]\nmanifest = "m.toml"\n')
    result = audit("run", "--offline", "--config", str(config), "--db", "sqlite://")
    assert result.exit_code == 2 and complaint in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_run_that_follows_only_the_publishers_index_has_its_log_keys(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    """`[log] follow = false` with an `[index]`: exit 70 (AssertionError: the publisher's Rekor
    receipts need the log keys) before the first request; now the index is crawled."""
    config = write(tmp_path, '[log]\nfollow = false\nmax_retries = 0\nrefresh = false\n'
                   '[index]\nfiles = "http://127.0.0.1:9/f"\nlinks = "http://127.0.0.1:9/l"\n')
    result = audit("run", "--config", str(config))
    assert result.exit_code == 3, result.stderr
    assert "publisher index GET http://127.0.0.1:9/" in result.stderr


def test_an_online_run_that_follows_no_log_is_refused(audit: RunAudit, tmp_path: Path) -> None:
    """`[log] follow = false` and nothing else to follow: the run crawled nothing and said
    nothing of it."""
    config = write(tmp_path, '[log]\nfollow = false\n')
    result = audit("run", "--config", str(config), "--db", "sqlite://")
    assert result.exit_code == 2
    assert result.stderr == (f"error: {config}: [log] follow = false and no [[tiled_logs]], "
                             "[rekor_v2] or [index]: the run would follow no log (--offline "
                             "judges the store alone)\n")
    # `audit crawl` ended in an internal error (exit 70).
    result = audit("crawl", "--config", str(config), "--db", "sqlite://")
    assert result.exit_code == 2
    assert result.stderr == (f"error: {config}: [log] follow = false and no [[tiled_logs]], "
                             "[rekor_v2] or [index]: the crawl would follow no log\n")


def test_an_expected_since_in_the_future_is_refused(audit: RunAudit, tmp_path: Path) -> None:
    """It made every endorsement "older", and so none unexpected: two rules silently off."""
    write(tmp_path, '[components.kernel_cmd_line]\ncmdline = "x"\n', "m.toml")
    config = write(tmp_path, '[reconcile]\nexpected_since = 2205-01-01\n'
                   '[[releases]]\nmanifest = "m.toml"\n')
    result = audit("run", "--offline", "--config", str(config), "--db", "sqlite://")
    assert result.exit_code == 2
    assert result.stderr == (f"error: {config}: reconcile.expected_since 2205-01-01 is in the "
                             "future: no endorsement would be reported as unexpected\n")


def test_a_statement_store_is_an_http_url_or_a_directory(tmp_path: Path) -> None:
    """`ftp://...`, a query that would swallow the names appended, or a file were each read
    as a directory that held no statement: every statement unavailable, nothing said why."""
    config = write(tmp_path, '[statements]\nsource = "ftp://files.example/oak/"\n')
    with pytest.raises(ConfigError, match=r"statements\.source must be an http\(s\) URL"):
        resolve(Flags(config=config), {}, default_keys=False)
    with pytest.raises(ConfigError, match=r"^flag --statements must not have a query"):
        resolve(Flags(statements="https://files.example/?x=1"), {}, default_keys=False)
    with pytest.raises(ConfigError,
                       match=r"^environment AUDITOR_STATEMENTS: '.*auditor.toml' is not a dir"):
        resolve(Flags(), {"AUDITOR_STATEMENTS": str(config)}, default_keys=False)
    assert resolve(Flags(statements=str(tmp_path)), {}, default_keys=False).statements == str(
        tmp_path)


def test_online_overrides_auditor_offline(audit: RunAudit, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """AUDITOR_OFFLINE=1 (a unit's Environment=) could not be overridden: there was no flag
    for a run that contacts the logs, where a flag outranks the environment."""
    monkeypatch.setenv("AUDITOR_OFFLINE", "1")
    config = write(tmp_path, '[log]\nfollow = false\n')
    offline = audit("run", "--config", str(config), "--db", "sqlite://")
    assert "nothing to audit" in offline.stderr and "the run is offline" in offline.stderr
    online = audit("run", "--online", "--config", str(config), "--db", "sqlite://")
    assert online.exit_code == 2 and "the run would follow no log" in online.stderr


def test_every_command_reads_the_database_the_config_names(
        audit: RunAudit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    """AUDITOR_CONFIG=c.toml audit status reads `[database] url`, not the default database."""
    config = write(tmp_path, f'[database]\nurl = "{db_url}"\n')
    monkeypatch.delenv("AUDITOR_DB")
    monkeypatch.setenv("AUDITOR_CONFIG", str(config))
    assert audit("import", str(RELEASE_KEY.parent / "logentry.json"), "--key",
                 f"kernel={RELEASE_KEY}").exit_code == 0
    status = audit("status", "--json")
    assert status.exit_code == 0 and json.loads(status.stdout)["counts"]["entries"] == 1
    entries = audit("entries", "--json")
    assert len(json.loads(entries.stdout)["entries"]) == 1
    assert audit("component", "kernel", "--json").exit_code == 0


def test_read_only_commands_refuse_a_database_that_does_not_exist(
        audit: RunAudit, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "auditor.db"
    for command in (["status"], ["findings"], ["component", "kernel"], ["entries"], ["report"]):
        result = audit(*command, "--db", str(missing))
        assert result.exit_code == 2, command
        assert f"no database at {missing}" in result.stderr and "audit run" in result.stderr
    assert not missing.exists() and not missing.parent.exists()


@pytest.mark.parametrize("url", ["auditor.db", "sqlite:///auditor.db"])
def test_a_relative_database_in_the_config_is_relative_to_the_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """As every path in the config: it was relative to the working directory (`/` under
    systemd, the home directory under cron), a database other than the one a trial run
    beside the config had used."""
    etc, elsewhere = tmp_path / "etc", tmp_path / "elsewhere"
    etc.mkdir(), elsewhere.mkdir()
    config = write(etc, f'[database]\nurl = "{url}"\n')
    monkeypatch.chdir(elsewhere)
    assert resolve(Flags(config=config), {}).database_url == f"sqlite:///{etc / 'auditor.db'}"
    absolute = write(etc, f'[database]\nurl = "sqlite:///{tmp_path}/a.db"\n', "abs.toml")
    assert resolve(Flags(config=absolute), {}).database_url == f"sqlite:///{tmp_path}/a.db"


def test_a_plain_path_is_a_sqlite_database(audit: RunAudit, tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    assert audit("db", "upgrade", "--db", str(path)).exit_code == 0
    assert path.is_file()
    assert audit("status", "--db", str(path)).exit_code == 0


#: A command of each way the CLI opens the database: to read it, to write (creating it), to
#: create or migrate its schema.
OPENING_COMMANDS = (["status"], ["entries"], ["db", "upgrade"], ["import", "."],
                    ["run", "--offline", "--config", str(DEMO / "oak.toml")],
                    ["crawl", "--rekor-url", "http://127.0.0.1:1"])


@pytest.mark.parametrize("command", OPENING_COMMANDS)
def test_a_file_that_is_not_a_database_is_one_line(audit: RunAudit, tmp_path: Path,
                                                   command: list[str]) -> None:
    path = tmp_path / "notes.db"
    notes = "these are my notes, not a database\n" * 100
    path.write_text(notes)
    result = audit(*command, "--db", str(path))
    assert result.exit_code == 2, result.stderr
    assert result.stderr == f"error: {path} is not an auditor database (file is not a " \
        "database)\n"
    assert path.read_text() == notes


def test_db_upgrade_refuses_another_programs_database_whose_tables_are_in_the_way(
        audit: RunAudit, tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE endorsements (mine TEXT)")
    result = audit("db", "upgrade", "--db", str(path))
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(f"error: {path} is not an auditor database: it holds other "
                                    "tables")
    assert "table endorsements already exists" in result.stderr
    with sqlite3.connect(path) as connection:  # rolled back: their database as it was
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == [
            ("endorsements",)]


def test_a_database_from_a_newer_auditor_is_named_as_such(audit: RunAudit,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    assert audit("db", "upgrade", "--db", str(path)).exit_code == 0
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    for command in (["status"], ["db", "upgrade"], ["crawl"]):
        result = audit(*command, "--db", str(path))
        assert result.exit_code == 2, command
        assert "written by a newer auditor" in result.stderr
        assert "upgrade the auditor" in result.stderr and "audit db upgrade" not in result.stderr


def test_an_empty_config_is_nothing_to_do(audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    result = audit("run", "--offline", "--config", str(write(tmp_path, "")))
    assert result.exit_code == 2 and "nothing to audit" in result.stderr


def test_unknown_component_or_rule_lists_the_known_names(audit: RunAudit, tmp_path: Path,
                                                         db_url: str) -> None:
    assert audit("import", str(RELEASE_KEY.parent / "logentry.json"), "--key",
                 f"kernel={RELEASE_KEY}").exit_code == 0
    component = audit("component", "kernal")
    assert component.exit_code == 2 and "known components: kernel" in component.stderr
    rule = audit("findings", "--rule", "WRONG_KYE")
    assert rule.exit_code == 2 and "WRONG_KEY" in rule.stderr and "MATCH" in rule.stderr
    since = audit("findings", "--since", "yesterday")
    assert since.exit_code == 2 and "--since" in since.stderr and "--at" not in since.stderr


@pytest.mark.parametrize("command", [("component", "kernel"), ("entries",)])
def test_limit_takes_0_for_all_up_to_the_largest_sql_integer(
        audit: RunAudit, db_url: str, command: tuple[str, ...]) -> None:
    # Past it, SQLite's driver overflowed and PostgreSQL refused the LIMIT: internal errors
    # (exit 70); a negative limit was taken as "all" on SQLite.
    assert audit("import", str(RELEASE_KEY.parent / "logentry.json"), "--key",
                 f"kernel={RELEASE_KEY}").exit_code == 0
    for limit in (2**63, 10**23, -1, -(2**63)):
        result = audit(*command, "--limit", str(limit), "--json")
        assert result.exit_code == 2 and result.stdout == "", (limit, result.stderr)
        assert result.stderr == (f"error: --limit {limit} is out of range: it takes 0 (all) to "
                                 f"{2**63 - 1}\n")
    shown = []
    for limit in (2**63 - 1, 0, 1):
        result = audit(*command, "--limit", str(limit), "--json")
        assert result.exit_code == 0, result.stderr
        shown.append(json.loads(result.stdout))
    assert shown[0] == shown[1] == shown[2]
    if command == ("entries",):
        assert len(shown[0]["entries"]) == 1


@pytest.mark.parametrize("flags, named", [
    (("--log-index", "-1"), "--log-index -1"),
    (("--log-index", "3", "--log-index", str(2**63)), f"--log-index {2**63}"),
    (("--from-index", str(2**63), "--to-index", str(2**63)), f"--from-index {2**63}"),
    (("--from-index", "0", "--to-index", str(10**30)), f"--to-index {10**30}"),
])
def test_crawl_refuses_a_log_index_no_log_can_have(audit: RunAudit, tmp_path: Path,
                                                   flags: tuple[str, ...], named: str) -> None:
    config = write(tmp_path, "[log]\nmax_retries = 0\n")
    result = audit("crawl", "--config", str(config), "--rekor-url", "http://127.0.0.1:1",
                   *flags)
    assert result.exit_code == 2
    assert result.stderr == f"error: {named} is out of range: it takes 0 to {2**63 - 1}\n"


@pytest.mark.parametrize("flags, named", [
    (Flags(rate=0.0), "--rate 0: expected a positive number"),
    (Flags(rate=-2.5), "--rate -2.5: expected a positive number"),
    (Flags(rate=float("nan")), "--rate nan: expected a positive number"),
    (Flags(deadline=-5.0), "--deadline -5: expected a positive number"),
    (Flags(deadline=0.0), "--deadline 0: expected a positive number"),
    (Flags(deadline=float("inf")), "--deadline inf: expected a positive number"),
    (Flags(rate=float("inf")), "--rate inf: expected a positive number"),
])
def test_a_number_flag_out_of_range_is_named_by_its_flag(flags: Flags, named: str) -> None:
    # --rate 0 was refused by the HTTP client as "requests_per_second" (a config key the user
    # never wrote), --deadline -5 taken as a deadline long past.
    with pytest.raises(ConfigError) as refused:
        resolve(flags, {"AUDITOR_RATE": "3", "AUDITOR_DEADLINE": "60"}, default_keys=False)
    assert str(refused.value) == named


@pytest.mark.parametrize("variable", ["AUDITOR_RATE", "AUDITOR_DEADLINE"])
def test_a_number_from_the_environment_is_named_by_its_variable(variable: str) -> None:
    for value in ("0", "-2.5"):
        with pytest.raises(ConfigError,
                           match=rf"^{variable}='{value}': expected a positive number$"):
            resolve(Flags(), {variable: value}, default_keys=False)
    assert resolve(Flags(rate=2.0, deadline=9.0), {variable: "0"}, default_keys=False)


@pytest.mark.parametrize("variable", ["AUDITOR_RATE", "AUDITOR_DEADLINE"])
@pytest.mark.parametrize("value", ["1_0", "1e3", "inf", "nan", " 7", "+7", "\u0667", "0x10", ""])
def test_a_number_from_the_environment_is_plain_decimal(variable: str, value: str) -> None:
    # float() took `1_0` as 10 and `1e3` as 1000: a typo read as another number.
    if value == "":  # an empty variable is an unset one
        assert resolve(Flags(), {variable: value}, default_keys=False)
        return
    with pytest.raises(ConfigError) as refused:
        resolve(Flags(), {variable: value}, default_keys=False)
    assert str(refused.value) == (f"{variable}={value!r}: expected a number (decimal digits, "
                                  "e.g. 2.5)")
    for plain in ("10", "2.5", "0.25", ".5"):
        assert resolve(Flags(), {variable: plain}, default_keys=False)


@pytest.mark.parametrize("args", [
    ("entries", "--limit", "1_0"),
    ("entries", "--limit", "+5"),
    ("entries", "--limit", " 7"),
    ("component", "kernel", "--limit", "\u0667"),
    ("crawl", "--log-index", "3", "--log-index", "1_0"),
    ("crawl", "--to-index", "20", "--from-index", "0x10"),
    ("crawl", "--from-index", "0", "--to-index", "1_0"),
    ("crawl", "--rate", "1e3"),
    ("crawl", "--rate", "inf"),
    ("crawl", "--deadline", "1_0"),
    ("run", "--deadline", "nan"),
])
def test_a_numeric_flag_takes_plain_decimal_only(audit: RunAudit, tmp_path: Path,
                                                 args: tuple[str, ...]) -> None:
    # click's INT and FLOAT are Python's int() and float(): `--log-index 1_0` fetched index 10.
    config = write(tmp_path, "[log]\nmax_retries = 0\n")
    result = audit(*args, "--config", str(config))
    flag, value = args[-2:]
    form = "in decimal digits, e.g. 2.5" if flag in ("--rate", "--deadline") else \
        "whole, in decimal digits"
    assert (result.exit_code, result.stdout) == (2, "")
    command = "audit run" if args[0] == "run" else f"audit {args[0]}"
    assert result.stderr == (f"error: Invalid value for '{flag}': {value!r} is not a number "
                             f"({form}) (see '{command} --help')\n")


def test_crawl_rate_0_names_the_flag(audit: RunAudit) -> None:
    result = audit("crawl", "--rekor-url", "http://127.0.0.1:1", "--rate", "0")
    assert result.exit_code == 2
    assert result.stderr == "error: --rate 0: expected a positive number\n"


@pytest.mark.parametrize("index", [-1, 2**63])
def test_the_config_files_log_indexes_are_held_to_the_same_range(tmp_path: Path,
                                                                 index: int) -> None:
    config = write(tmp_path, f"[crawl]\nlog_indexes = [0, {index}]\n")
    with pytest.raises(ConfigError, match=rf"crawl.log_indexes\[1\] {index} is out of range: "
                       rf"it takes 0 to {2**63 - 1}"):
        resolve(Flags(config=config))


@pytest.mark.parametrize("flag", [("findings", "--since"), ("import", ".", "--at")])
@pytest.mark.parametrize("value, why", [
    # Valid RFC 3339, but in UTC before year 1 or after 9999: it was called not RFC 3339.
    ("0001-01-01T00:00:00+01:00", "is out of range (in UTC it is before 0001-01-01"),
    ("9999-12-31T23:59:59-00:30", "is out of range (in UTC it is before 0001-01-01"),
    ("2025-02-29T00:00:00Z", "names a day or time that does not exist"),
    ("2025-01-01T24:00:00Z", "names a day or time that does not exist"),
    ("20250101T000000Z", "is not an RFC 3339 timestamp with its offset (e.g. "),
])
def test_a_timestamp_flag_says_why_it_refuses_a_value(audit: RunAudit, flag: tuple[str, ...],
                                                      value: str, why: str) -> None:
    result = audit(*flag, value)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {flag[-1]} {value!r} {why}"), result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_import_refuses_what_it_cannot_import(audit: RunAudit, tmp_path: Path,
                                              db_url: str) -> None:
    missing = audit("import", str(tmp_path / "missing.json"))
    assert missing.exit_code == 2 and "no such file or directory" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = audit("import", str(empty))
    assert nothing.exit_code == 2 and "nothing to import" in nothing.stderr
    textproto = tmp_path / "endorsements.textproto"
    textproto.write_bytes(b"\x08\x96\x01 binary, not text format")
    wrong = audit("import", str(textproto))
    assert wrong.exit_code == 1 and "not protobuf text format" in wrong.stderr


def test_a_metrics_file_that_is_a_directory_is_refused_before_the_run(
        audit: RunAudit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An empty --metrics-file is "." (typer makes it a Path): the run went through to its end,
    # then failed to replace the directory with "Device or resource busy".
    from auditor.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^flag --metrics-file: '\.' is a directory"):
        resolve(Flags(metrics_file=Path("")), {}, default_keys=False)
    with pytest.raises(ConfigError, match=r"environment AUDITOR_METRICS_FILE: .* is a directory"):
        resolve(Flags(), {"AUDITOR_METRICS_FILE": str(tmp_path)}, default_keys=False)
    config = tmp_path / "auditor.toml"
    config.write_text(f'[metrics]\nfile = "{tmp_path}"\n')
    with pytest.raises(ConfigError, match=r"the configuration.s metrics\.file: .* is a directory"):
        resolve(Flags(config=config), {}, default_keys=False)
    result = audit("run", "--config", str(config), "--metrics-file", "", "--offline")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "is a directory; the metrics file needs a file name" in result.stderr


def test_a_database_in_a_directory_that_does_not_exist_is_refused_not_made(
        audit: RunAudit, tmp_path: Path) -> None:
    # `audit db upgrade --db /nonexistent/x.db` made /nonexistent at the root and a database
    # in it: a typo in --db left directories wherever the user could write.
    missing = tmp_path / "typo" / "deeper" / "auditor.db"
    result = audit("db", "upgrade", "--db", str(missing))
    assert result.exit_code == 2, result.stderr
    assert result.stderr.strip() == (
        f"error: the database {str(missing)!r} is in a directory that does not exist "
        f"({str(missing.parent)!r}): create it, or name another")
    result = audit("run", "--config", str(demo_config(tmp_path)), "--offline", "--db", str(missing))
    assert result.exit_code == 2 and "directory that does not exist" in result.stderr
    assert not (tmp_path / "typo").exists()
    (tmp_path / "typo" / "deeper").mkdir(parents=True)
    assert audit("db", "upgrade", "--db", str(missing)).exit_code == 0
    assert missing.is_file()


SUPPRESSION = '[[suppressions]]\nreason = "known"\nexpires = 2099-12-31\n'
KERNEL_KEY = f'[components.kernel]\nkeys = ["""{RELEASE_KEY.read_text()}"""]\n'
UUID80 = "24296fb24b8ad77a" + "ab" * 32


@pytest.mark.parametrize(("fields", "complaint"), [
    # A component no key, manifest, keyset or evidence names: a typo suppressed nothing.
    ('rule = "NOT_ENDORSED"\ncomponent = "kernle"\n',
     "suppressions[0].component 'kernle' is not a configured component (known: acpi, "
     "init_ram_fs, kernel, kernel_cmd_line, memory_map, stage0, system_image), so it never "
     "matches a finding"),
    # Log findings name no component.
    ('rule = "LOG_INCONSISTENT"\ncomponent = "kernel"\n',
     "suppressions[0]: LOG_INCONSISTENT findings name no component, so component 'kernel' "
     "never matches one (leave it out)"),
    ('rule = "CHECKPOINT_INVALID"\ncomponent = "kernel"\n', "CHECKPOINT_INVALID findings name"),
    # Findings name an entry by its UUID or its decimal log index, and nothing else.
    ('rule = "WRONG_KEY"\nentry = "0x1f"\n', "suppressions[0].entry '0x1f' is neither a Rekor "
     "entry UUID (64 or 80 hex) nor a log index (decimal), so it never matches a finding"),
    ('rule = "WRONG_KEY"\nentry = "+7"\n', "suppressions[0].entry '+7' is neither"),
    ('rule = "WRONG_KEY"\nentry = "007"\n', "suppressions[0].entry '007' is neither"),
    ('rule = "WRONG_KEY"\nentry = "1_0"\n', "suppressions[0].entry '1_0' is neither"),
    ('rule = "WRONG_KEY"\nentry = "sha256:abcd"\n', "entry 'sha256:abcd' is neither"),
    (f'rule = "WRONG_KEY"\nentry = "{"a" * 63}"\n', "is neither a Rekor entry UUID"),
    (f'rule = "WRONG_KEY"\nentry = "{2**63}"\n', f"entry '{2**63}' is neither"),
])
def test_a_suppression_that_can_never_match_is_refused(
        audit: RunAudit, tmp_path: Path, fields: str, complaint: str) -> None:
    # Each was accepted and suppressed nothing, while the user thought it did.
    config = write(tmp_path, KERNEL_KEY + SUPPRESSION + fields)
    for command in (["run", "--offline"], ["findings"], ["crawl"]):
        result = audit(*command, "--config", str(config))
        assert result.exit_code == 2, (command, result.stderr)
        assert complaint in " ".join(result.stderr.split()), result.stderr
        assert str(config) in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_suppression_may_name_a_component_the_reconciled_manifest_names(
        audit: RunAudit, tmp_path: Path) -> None:
    """`audit reconcile MANIFEST` with the team's config: its suppression of a component only
    that manifest names was refused as never matching, and it matches."""
    (tmp_path / "app.bin").write_bytes(b"app")
    manifest = write(tmp_path, '[components.app]\nartifact = "app.bin"\n', "release.toml")
    config = write(tmp_path,
                   KERNEL_KEY + SUPPRESSION + 'rule = "NOT_ENDORSED"\ncomponent = "app"\n')
    result = audit("reconcile", str(manifest), "--config", str(config),
                   "--db", f"sqlite:///{tmp_path / 'a.db'}", "--json")
    assert result.exit_code == 0, result.stderr
    (finding,) = [f for f in json.loads(result.stdout)["findings"]
                  if f["rule"] == "NOT_ENDORSED"]
    assert finding["component"] == "app" and finding["suppressed"]["reason"] == "known"


@pytest.mark.parametrize("entry, matches", [
    (UUID80, True), ("ab" * 32, True),  # Rekor's UUID, or the leaf hash alone, as tools show it
    ("42", True), ("cd" * 32, False), ("43", False)])
def test_a_suppressed_entry_matches_its_finding_by_uuid_leaf_hash_or_index(
        entry: str, matches: bool) -> None:
    finding = Finding(RuleId.WRONG_KEY, "kernel", "not the pinned key",
                      evidence={"uuid": UUID80, "log_index": 42})
    for uuid in (UUID80, "ab" * 32):  # a finding may name the entry either way too
        named = replace(finding, evidence={**finding.evidence, "uuid": uuid})
        suppression = Suppression(RuleId.WRONG_KEY, None, "tracked", date(2099, 1, 1), entry)
        assert suppression.applies(named, date(2026, 12, 2)) is matches


def test_a_suppression_that_may_match_later_is_kept(tmp_path: Path) -> None:
    """An entry not logged yet, a component a release manifest, an evidence message, a --key
    flag or an index keyset names, a component of a config with no keys (queries)."""
    (tmp_path / "app.bin").write_bytes(b"app")
    write(tmp_path, '[components.app]\nartifact = "app.bin"\n', "release.toml")
    config = write(tmp_path, (
        KERNEL_KEY + '[[releases]]\nmanifest = "release.toml"\n'
        '[index]\nfiles = "https://index.example/files"\n'
        f'links = "https://index.example/links"\nkeysets = ["pub=sha2-256:{"c" * 64}"]\n'
        + "".join(SUPPRESSION + fields for fields in (
            f'rule = "WRONG_KEY"\nentry = "{UUID80.upper()}"\n',  # as a browser shows it
            f'rule = "WRONG_KEY"\nentry = "{"d" * 64}"\n',
            'rule = "WRONG_KEY"\nentry = "0"\n',
            f'rule = "WRONG_KEY"\nentry = "{2**63 - 1}"\n',
            'rule = "NOT_ENDORSED"\ncomponent = "app"\n',
            'rule = "OBSERVED_UNCOVERED"\ncomponent = "acpi"\n',
            'rule = "UNPINNED_PUBLISHER_KEY"\ncomponent = "pub"\n',
            'rule = "LOG_INCONSISTENT"\n'))))
    settings = resolve(Flags(config=config), {})
    assert [s.entry for s in settings.suppressions] == [
        UUID80, "d" * 64, "0", str(2**63 - 1), None, None, None, None]
    flagged = write(tmp_path, SUPPRESSION + 'rule = "WRONG_KEY"\ncomponent = "extra"\n',
                    "flagged.toml")
    with pytest.raises(ConfigError, match="'extra' is not a configured component"):
        resolve(Flags(config=flagged), {})
    assert resolve(Flags(config=flagged, keys=(f"extra={RELEASE_KEY}",)), {})
    assert resolve(Flags(config=write(tmp_path, 'key_sources = []\n' + SUPPRESSION
                                      + 'rule = "WRONG_KEY"\ncomponent = "any"\n', "bare.toml")),
                   {}, default_keys=False).suppressions[0].component == "any"
