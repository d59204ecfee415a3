"""Verification of a Sigstore bundle: each of its log entries, bound to the bundle's content."""

from __future__ import annotations

import dataclasses

from auditor.source.bundle import Bundle
from auditor.verify.check_names import LOG_CHECKS
from auditor.verify.entry import (
    EndorsementMaterial,
    Verification,
    failed,
    verify_entry,
    verify_unlogged,
)
from auditor.verify.trust import LogKeyring


def verify_bundle(
    bundle: Bundle, keyring: LogKeyring, material: EndorsementMaterial
) -> list[Verification]:
    material = dataclasses.replace(material, bundle=bundle)
    if material.signature is None:
        # The bundle's own signature (over the artifact, or the DSSE envelope): checked even
        # when no entry is logged.
        own = bundle.message.signature if bundle.message else None
        if bundle.envelope is not None:
            own = bundle.envelope.signatures[0]
        material = dataclasses.replace(material, signature=own)
    if not bundle.entries:
        reason = "the bundle carries no transparency-log entry"
        unlogged = verify_unlogged(material)
        checks = tuple(failed(c.name, reason) if c.name in LOG_CHECKS else c
                       for c in unlogged.checks)
        return [dataclasses.replace(unlogged, checks=checks)]
    return [verify_entry(entry, keyring, material) for entry in bundle.entries]
