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

python="${PYTHON:-.venv/bin/python}"
protoc_gen_mypy="${PROTOC_GEN_MYPY:-$(dirname "$python")/protoc-gen-mypy}"
root=auditor/oak
out="$root/proto"

find "$out" \( -name '*_pb2.py' -o -name '*_pb2.pyi' \) -delete

mapfile -t sources < <(cd "$root" && find proto -name '*.proto' | sort)
(
    cd "$root"
    "$OLDPWD/$python" -m grpc_tools.protoc -I . \
        --plugin=protoc-gen-mypy="$OLDPWD/$protoc_gen_mypy" \
        --python_out=. --mypy_out=. "${sources[@]}"
)

# `proto.x` / `proto.attestation.x` are Oak's paths; ours live under auditor.oak.proto.
# Only Oak's own modules are rewritten (google.protobuf imports stay as they are).
find "$out" \( -name '*_pb2.py' -o -name '*_pb2.pyi' \) -print0 |
    xargs -0 sed -i -E \
        -e 's/^from proto(\.attestation)? import /from auditor.oak.proto\1 import /' \
        -e 's/^import proto\.((attestation\.)?[a-z_]+_pb2)$/import auditor.oak.proto.\1/' \
        -e 's/([^.A-Za-z_])proto\.((attestation\.)?[a-z_]+_pb2\.)/\1auditor.oak.proto.\2/g' \
        -e "s/(BuildTopDescriptorsAndMessages\(DESCRIPTOR, ')proto\./\1auditor.oak.proto./"

for dir in "$out" "$out/attestation"; do
    [ -f "$dir/__init__.py" ] || printf '"""Generated from Project Oak protos by scripts/gen_protos.sh."""\n' >"$dir/__init__.py"
done
