"""Alerts: tell people when a finding is new (or resolved), once per channel.

`selection.alerts_to_send` decides what fires from a run's findings and the delivery ledger;
`dispatch.deliver` sends it through the configured channels (`webhook`, `email`, `github`,
built by `settings.build_channels` from the `[notify]` table) and records every outcome.
Nothing here touches the database: the ledger is a protocol, kept by the store
(`auditor.store.deliveries`); `auditor.alerting` joins the two for a run.
"""
