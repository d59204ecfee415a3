"""Recompute boot-component measurements from local artifacts.

One module per measurer, each a `measure_*` function returning a `Measurement`
(`interface.py`): `stage0` (ROM SHA-256 and SNP launch digests per vCPU count, Oak and QEMU
modes), `tdx` (the MRTD of a TDX stage0, as Oak's tdx_measurement), `launch` (QEMU+OVMF with
kernel hashes), `kernel`, `initrd`, `cmdline`; `evidence`
reads what a running VM reported. The SNP machinery they share: `firmware` (GUID table and
ASEV metadata), `launch_digest` (the PAGE_INFO chain), `vmsa` (initial vCPU state) and `vmm`
(how each VMM measures the metadata sections).
"""
