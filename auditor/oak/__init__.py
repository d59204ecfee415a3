"""Project Oak's protobuf messages: endorsements, evidence, reference values, attachments.

`auditor.oak.messages` is the API; `auditor.oak.proto` holds Oak's .proto sources (a faithful
subset) and the code generated from them by scripts/gen_protos.sh.
"""
