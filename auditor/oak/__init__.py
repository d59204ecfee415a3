"""Project Oak's protobuf messages: endorsements, evidence, reference values, attachments.

`auditor.oak.messages` is the API; `auditor.oak.proto` holds Oak's .proto sources (Oak commit
578b951, see auditor/oak/proto/README.md) and the code generated from them by
scripts/gen_protos.sh.
"""
