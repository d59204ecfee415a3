"""Generated from Project Oak protos by scripts/gen_protos.sh."""
