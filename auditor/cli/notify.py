"""`audit notify test`: prove every configured alert channel works."""

from __future__ import annotations

import typer

from auditor.cli.app import ExitCode, app, print_json, say
from auditor.cli.options import ConfigOption, JsonOption, NotifyWebhookOption, settings_for

notify_app = typer.Typer(help="Alert channels ([notify] in the config).", no_args_is_help=True)
app.add_typer(notify_app, name="notify")


@notify_app.command("test")
def notify_test(config_path: ConfigOption = None, notify_webhook: NotifyWebhookOption = None,
                json_output: JsonOption = False) -> None:
    """Send a test message through every configured channel (GitHub: check that the token
    reaches the repository and issues are enabled; nothing is opened).

    Exit 0 when every channel took it, 3 when one did not, 2 when none is configured.
    """
    from auditor.service import Auditor

    settings = settings_for(config_path, default_keys=False, notify_webhook=notify_webhook)
    with Auditor(settings) as auditor:
        deliveries = auditor.send_test_alerts()
    if json_output:
        print_json({"channels": [{"channel": d.channel, "ok": d.delivered,
                                  "status": d.status.value, "reason": d.reason,
                                  "reference": d.reference} for d in deliveries]})
    for delivery in deliveries:
        outcome = "ok" if delivery.delivered else "FAILED"
        note = delivery.reason or delivery.reference
        say(f"{delivery.channel}: {outcome}" + (f" ({note})" if note else ""))
    raise typer.Exit(ExitCode.CLEAN if all(d.delivered for d in deliveries)
                     else ExitCode.INCOMPLETE)
