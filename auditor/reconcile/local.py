"""What we measure ourselves: recomputed from shipped artifacts, or observed in Oak evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from auditor.components import Kind, kind_of
from auditor.errors import InputError
from auditor.local_files import MAX_DOCUMENT_SIZE
from auditor.measure.artifact import MAX_FILE_SIZE, read_artifact, sha256_file
from auditor.measure.cmdline import utf8
from auditor.measure.evidence import ObservedEvidence, read_evidence
from auditor.measure.firmware import MAX_IMAGE_SIZE, SEV_METADATA_GUID, parse_guid_table
from auditor.measure.initrd import MAX_INITRD_SIZE
from auditor.measure.kernel import measure_kernel_file
from auditor.measure.stage0 import measure_stage0
from auditor.measure.tdx import TDX_METADATA_OFFSET_GUID, measure_tdx
from auditor.reconcile.manifest import ComponentInput, Release


@dataclass(frozen=True)
class LocalValue:
    """One component's own measurement, with where it came from.

    Only the fields of its kind are set. `launch_digests` maps (mode, vCPUs) to the SNP launch
    digest recomputed from a ROM; `snp_measurement` is the one a VM reported. `setup_digests`
    maps a VMM variant (or "observed") to the setup-data digest.
    """

    component: str
    kind: Kind
    source: str
    sha256: bytes | None = None
    launch_digests: dict[tuple[str, int], bytes] = field(default_factory=dict)
    snp_measurement: bytes | None = None
    kernel_measurement: bytes | None = None
    setup_digests: dict[str, bytes] = field(default_factory=dict)
    cmdline: str | None = None
    #: Intel TDX MRTD of stage0: recomputed from a TDX ROM, or read from a TD quote.
    tdx_mrtd: bytes | None = None

    def digests(self) -> dict[str, str]:
        """The recomputed values, as hex, for evidence in findings."""
        out: dict[str, str] = {}
        if self.sha256 is not None:
            out["sha256"] = self.sha256.hex()
        for (mode, vcpus), digest in sorted(self.launch_digests.items()):
            out[f"launch_digest_{mode}_{vcpus}"] = digest.hex()
        if self.snp_measurement is not None:
            out["snp_measurement"] = self.snp_measurement.hex()
        if self.kernel_measurement is not None:
            out["kernel_measurement"] = self.kernel_measurement.hex()
        for variant, digest in sorted(self.setup_digests.items()):
            out[f"setup_data_digest_{variant}"] = digest.hex()
        if self.cmdline is not None:
            out["cmdline"] = self.cmdline
        if self.tdx_mrtd is not None:
            out["tdx_mrtd"] = self.tdx_mrtd.hex()
        return out


def from_artifact(given: ComponentInput) -> LocalValue:
    source = str(given.artifact) if given.artifact else "cmdline"
    if given.kind is Kind.CMDLINE:
        text = given.cmdline
        if text is not None:
            utf8(text, "--cmdline")  # an argument's bytes that are not UTF-8 (PEP 383)
        else:
            assert given.artifact is not None
            raw = read_artifact(given.artifact, "cmdline", MAX_DOCUMENT_SIZE)
            try:
                # Strictly: stage0 records the command line as a protobuf string (UTF-8), and
                # a repaired one is not the command line the file holds.
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError as error:
                raise InputError(f"cmdline {given.artifact} is not UTF-8 text (byte "
                                 f"{error.start})") from None
        return LocalValue(given.component, Kind.CMDLINE, source, cmdline=text)
    assert given.artifact is not None
    if given.kind is Kind.STAGE0:
        return _stage0(given.component, source, read_artifact(given.artifact, "stage0 ROM",
                                                              MAX_IMAGE_SIZE))
    if given.kind is Kind.KERNEL:
        kernel = measure_kernel_file(given.artifact)
        return LocalValue(given.component, Kind.KERNEL, source, sha256=kernel.sha256,
                          kernel_measurement=kernel.kernel_measurement,
                          setup_digests={str(v): d for v, d in kernel.setup_data_digest.items()})
    max_size, limit = _FILE_LIMITS.get(given.component, (MAX_FILE_SIZE, "file"))
    return LocalValue(given.component, Kind.FILE, source,
                      sha256=sha256_file(given.artifact, given.component, max_size, limit))


#: The most bytes hashed of a `file` component: an initrd's is what fw_cfg can hand over.
_FILE_LIMITS = {"init_ram_fs": (MAX_INITRD_SIZE, "initrd")}


def _stage0(component: str, source: str, rom: bytes) -> LocalValue:
    """A stage0 ROM's SEV-SNP launch digests and/or Intel TDX MRTD, by its metadata: a TDX
    stage0 carries TDVF metadata (its GUID table's TDX entry), an SNP one SEV metadata."""
    table = parse_guid_table(rom)
    tdx = measure_tdx(rom) if TDX_METADATA_OFFSET_GUID in table else None
    if tdx is not None and SEV_METADATA_GUID not in table:
        return LocalValue(component, Kind.STAGE0, source, sha256=tdx.sha256, tdx_mrtd=tdx.mrtd)
    measured = measure_stage0(rom)
    return LocalValue(component, Kind.STAGE0, source, sha256=measured.sha256,
                      launch_digests={(str(mode), count): digest
                                      for mode, by_count in measured.launch_digests.items()
                                      for count, digest in by_count.items()},
                      tdx_mrtd=tdx.mrtd if tdx is not None else None)


#: What follows an evidence file's path in a value's source: the value was observed there.
EVIDENCE_MARK = " (evidence)"

#: Evidence fields no Oak component key covers: reported for the record only.
UNCOVERED = ("memory_map", "acpi")


def from_evidence(path: Path) -> tuple[list[LocalValue], dict[str, bytes]]:
    """Observed values per component, and the observed values of uncovered components."""
    observed: ObservedEvidence = read_evidence(read_artifact(path, "evidence", MAX_DOCUMENT_SIZE))
    source = f"{path}{EVIDENCE_MARK}"
    stage0 = observed.stage0
    values = [
        LocalValue("kernel", Kind.KERNEL, source, kernel_measurement=stage0.kernel_measurement,
                   setup_digests={"observed": stage0.setup_data_digest}),
        LocalValue("init_ram_fs", kind_of("init_ram_fs"), source, sha256=stage0.ram_disk_digest),
        LocalValue("kernel_cmd_line", Kind.CMDLINE, source, cmdline=stage0.kernel_cmdline),
    ]
    if observed.snp_measurement is not None or observed.tdx_mrtd is not None:
        values.insert(0, LocalValue("stage0", Kind.STAGE0, source,
                                    snp_measurement=observed.snp_measurement,
                                    tdx_mrtd=observed.tdx_mrtd))
    if observed.system_image is not None:
        values.append(LocalValue("system_image", Kind.FILE, source, sha256=observed.system_image))
    uncovered = {"memory_map": stage0.memory_map_digest, "acpi": stage0.acpi_digest}
    return values, uncovered


def local_values(release: Release) -> tuple[list[LocalValue], dict[str, bytes]]:
    """Everything the release lets us measure; artifacts and evidence may both speak."""
    values = [from_artifact(given) for given in release.components.values()]
    uncovered: dict[str, bytes] = {}
    if release.evidence is not None:
        observed, uncovered = from_evidence(release.evidence)
        values.extend(observed)
    return values, uncovered
