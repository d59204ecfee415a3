"""E-mail channel: one plain-text message per alert over SMTP with STARTTLS.

STARTTLS is required unless switched off for a local relay without credentials (the settings
refuse credentials without it): a server that does not offer it is a failed delivery, never a
silent downgrade (RFC 3207 §4). The password comes from an environment variable.

Header injection: every value that may come from a log reaches a header only through
`one_line`, which turns CR, LF and every other control or invisible character into a visible
escape, so a detail can never end the Subject and start a Bcc. The body gets the same
treatment per field (ANSI escapes would otherwise act on a terminal mail reader).
"""

from __future__ import annotations

import smtplib
import ssl
from contextlib import closing, suppress
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from auditor.notify.interface import (
    Alert,
    AlertKind,
    Channel,
    Delivery,
    DeliveryStatus,
    one_line,
)

#: RFC 5322 §2.1.1 recommends lines of at most 78 characters; the policy folds longer Subjects.
SUBJECT_CHARS = 200
_REASON_CHARS = 200
_FIELD_CHARS = 1000


@dataclass(frozen=True)
class SmtpAccount:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    starttls: bool = True
    #: A CA bundle for a server whose certificate is not under the system roots.
    ca_file: Path | None = None
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


def email_message(alert: Alert, account: SmtpAccount) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = one_line(f"[auditor] {alert.headline}", SUBJECT_CHARS)
    message["From"] = account.sender
    message["To"] = ", ".join(account.recipients)
    message["Date"] = format_datetime(alert.run_time)
    message["Message-ID"] = make_msgid(domain="auditor.invalid")
    message["X-Auditor-Fingerprint"] = one_line(alert.fingerprint)
    message["X-Auditor-Severity"] = alert.severity.value
    message.set_content(email_body(alert))
    return message


def email_body(alert: Alert) -> str:
    field = {AlertKind.NEW: "A new finding", AlertKind.RESOLVED: "This finding is resolved",
             AlertKind.TEST: "A test message"}[alert.kind]
    lines = [
        f"{field} from the auditor run at {alert.run_time.isoformat()}.",
        "",
        f"Rule:        {alert.rule} ({alert.title})",
        f"Severity:    {alert.severity.value}",
        f"Component:   {one_line(alert.component, _FIELD_CHARS) or '-'}",
        f"Release:     {one_line(alert.release, _FIELD_CHARS) or '-'}",
        f"Detail:      {one_line(alert.detail, 4 * _FIELD_CHARS)}",
        f"Report:      {one_line(alert.report, _FIELD_CHARS) or '-'}",
        f"Fingerprint: {one_line(alert.fingerprint)}",
    ]
    if alert.evidence:
        lines += ["", "Evidence:"]
        lines += [f"  {one_line(key)}: {one_line(value, _FIELD_CHARS)}"
                  for key, value in alert.evidence]
    if alert.explanation:
        lines += ["", alert.explanation]
    return "\n".join(lines) + "\n"


class EmailChannel(Channel):
    name = "email"

    def __init__(self, account: SmtpAccount) -> None:
        self.account = account

    def send(self, alert: Alert) -> Delivery:
        try:
            refused = self._submit(email_message(alert, self.account))
        except (smtplib.SMTPException, OSError) as error:
            return Delivery.failed(self.name, alert, self._reason(error))
        if refused:
            # Others got it: a retry would send them a duplicate, so this counts as sent.
            note = "refused recipients: " + ", ".join(sorted(refused))
            return Delivery(self.name, alert.fingerprint, alert.kind, DeliveryStatus.SENT,
                            reason=one_line(note, _REASON_CHARS))
        return Delivery.sent(self.name, alert)

    def _submit(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        account = self.account
        # Not `with smtplib.SMTP(...)`: its exit raises when QUIT is answered otherwise than
        # 221, after "250" to the message has handed it over (RFC 5321 §4.1.1.4): counted a
        # failure, every later run would mail it again.
        with closing(smtplib.SMTP(account.host, account.port, timeout=account.timeout)) as smtp:
            smtp.ehlo()
            if account.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=account.ca_file))
                smtp.ehlo()  # RFC 3207 §4.2: forget what was learnt before TLS
            if account.username is not None and account.password is not None:
                smtp.login(account.username, account.password)
            refused = smtp.send_message(message)
            with suppress(smtplib.SMTPException, OSError):
                smtp.quit()
            return refused

    def _reason(self, error: BaseException) -> str:
        where = f"{self.account.host}:{self.account.port}"
        if isinstance(error, smtplib.SMTPResponseException):
            reply = error.smtp_error.decode("utf-8", "replace") if isinstance(
                error.smtp_error, bytes) else str(error.smtp_error)
            detail = f"{error.smtp_code} {reply}"
        elif isinstance(error, smtplib.SMTPNotSupportedError):
            detail = "the server does not offer STARTTLS"
        else:
            detail = str(error) or type(error).__name__
        return one_line(f"{where}: {type(error).__name__}: {detail}", _REASON_CHARS)
