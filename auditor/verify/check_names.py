"""The named checks of a verification, in the order they are run, stored and reported.

Apart from auditor.verify.entry so that reading stored results (the store's read models, the
reports, the queries) does not load the verification code and its cryptography.
"""

from __future__ import annotations

from enum import StrEnum


class CheckName(StrEnum):
    """The named checks, in the order they are run, stored and reported."""

    LEAF_HASH = "leaf_hash"
    LOG_ID = "log_id"
    INCLUSION_PROOF = "inclusion_proof"
    CHECKPOINT_SIGNATURE = "checkpoint_signature"
    CHECKPOINT_MATCHES_PROOF = "checkpoint_matches_proof"
    SET = "set"
    BODY = "body"
    BODY_SIGNATURE = "body_signature"
    ENDORSER_KEY = "endorser_key"
    ARTIFACT_HASH = "artifact_hash"
    ENDORSEMENT_SIGNATURE = "endorsement_signature"
    STATEMENT = "statement"
    VALIDITY = "validity"
    SUBJECT = "subject"
    # The receipts an Oak endorsement carries besides a Rekor entry (auditor.verify.receipts).
    TLOG_PROOF = "tlog_proof"
    TLOG_CHECKPOINT = "tlog_checkpoint"
    WITNESS_QUORUM = "witness_quorum"
    PES_CONFIRMATION = "pes_confirmation"


#: Every named check, in report order.
ALL_CHECKS = tuple(CheckName)
#: The checks of a C2SP tlog-proof and of a PES confirmation: a verification has them only for
#: the receipts the endorsement carries.
RECEIPT_CHECKS = (CheckName.TLOG_PROOF, CheckName.TLOG_CHECKPOINT, CheckName.WITNESS_QUORUM,
                  CheckName.PES_CONFIRMATION)
#: The checks of a C2SP tlog-proof (auditor.verify.tlog_proof).
TLOG_PROOF_CHECKS = (CheckName.TLOG_PROOF, CheckName.TLOG_CHECKPOINT, CheckName.WITNESS_QUORUM)
#: The checks every verification of an entry or endorsement has, in order.
CHECK_NAMES = tuple(name for name in CheckName if name not in RECEIPT_CHECKS)
LOG_CHECKS = CHECK_NAMES[:7]
#: Checks whose outcome depends on what the log served at fetch time (a proof, a checkpoint, a
#: signed timestamp), not on the entry's own bytes: a failure may be a transient fault and is
#: re-checked against a fresh copy on the next crawl.
SERVED_CHECKS = frozenset({CheckName.LOG_ID, CheckName.INCLUSION_PROOF,
                           CheckName.CHECKPOINT_SIGNATURE, CheckName.CHECKPOINT_MATCHES_PROOF,
                           CheckName.SET})
