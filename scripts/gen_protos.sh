#!/usr/bin/env bash
# Regenerate the Python code and typed stubs for Oak's protos under auditor/oak/proto/.
#
# Run from the repository root: scripts/gen_protos.sh. Idempotent: it rewrites every
# *_pb2.py / *_pb2.pyi from the .proto sources and nothing else.
#
# The .proto files keep Oak's own import paths ("proto/digest.proto"), so protoc runs with
# -I auditor/oak and the descriptors carry Oak's file names. protoc then emits
# `from proto import digest_pb2`; the last step rewrites those imports to the package path
# `auditor.oak.proto` so the generated modules import inside this project.
set -euo pipefail
cd "$(dirname "$0")/.."

# Relative paths are taken from the repository root; symlinks are kept (a venv's python is one).
absolute() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }
python="$(absolute "${PYTHON:-.venv/bin/python}")"
protoc_gen_mypy="$(absolute "${PROTOC_GEN_MYPY:-$(dirname "$python")/protoc-gen-mypy}")"
root=auditor/oak
out="$root/proto"

find "$out" \( -name '*_pb2.py' -o -name '*_pb2.pyi' \) -delete

mapfile -t sources < <(cd "$root" && find proto -name '*.proto' | sort)
(
    cd "$root"
    "$python" -m grpc_tools.protoc -I . \
        --plugin=protoc-gen-mypy="$protoc_gen_mypy" \
        --python_out=. --mypy_out=. "${sources[@]}"
)

# `proto.x`, `proto.attestation.x` and `proto.google.pes.v1.x` are Oak's paths; ours live under
# auditor.oak.proto. Only Oak's own modules are rewritten (google.protobuf imports stay as they
# are: they never start with `proto.`).
find "$out" \( -name '*_pb2.py' -o -name '*_pb2.pyi' \) -print0 |
    xargs -0 sed -i -E \
        -e 's/^from proto((\.[a-z0-9_]+)*) import /from auditor.oak.proto\1 import /' \
        -e 's/^import proto\.(([a-z0-9_]+\.)*[a-z0-9_]+_pb2)$/import auditor.oak.proto.\1/' \
        -e 's/([^.A-Za-z_])proto\.(([a-z0-9_]+\.)*[a-z0-9_]+_pb2\.)/\1auditor.oak.proto.\2/g' \
        -e "s/(BuildTopDescriptorsAndMessages\(DESCRIPTOR, ')proto\./\1auditor.oak.proto./"

find "$out" -type d ! -name __pycache__ -print0 |
    while IFS= read -r -d '' dir; do
        [ -f "$dir/__init__.py" ] ||
            printf '"""Generated from Project Oak protos by scripts/gen_protos.sh."""\n' >"$dir/__init__.py"
    done
