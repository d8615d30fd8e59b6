"""Sending e-mail through the configured SMTP server (``SMTP_*`` and ``MAIL_FROM`` settings).

``send_mail`` raises ``MailError`` when the server refuses the message or cannot be reached;
callers that must not lose a message call it from a background job, which retries.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from flask import current_app


class MailError(Exception):
    """The message was not handed to the SMTP server; the text says why, for people."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mimetype: str = "application/octet-stream"


def build_message(
    to: list[str],
    subject: str,
    body: str,
    attachments: list[Attachment] | tuple[Attachment, ...] = (),
    html: str | None = None,
    reply_to: str | None = None,
    sender_name: str | None = None,
) -> EmailMessage:
    config = current_app.config
    message = EmailMessage()
    sender = config["MAIL_FROM"]
    message["From"] = formataddr((sender_name, sender)) if sender_name else sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    if reply_to:
        message["Reply-To"] = reply_to
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for item in attachments:
        maintype, _, subtype = item.mimetype.partition("/")
        message.add_attachment(
            item.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=item.filename,
        )
    return message


def send_mail(
    to: list[str] | str,
    subject: str,
    body: str,
    attachments: list[Attachment] | tuple[Attachment, ...] = (),
    html: str | None = None,
    reply_to: str | None = None,
    sender_name: str | None = None,
) -> str:
    """Hand one message to the SMTP server; returns its Message-ID. Raises MailError."""
    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients:
        raise MailError("The message has no recipient.")
    message = build_message(recipients, subject, body, attachments, html, reply_to, sender_name)
    config = current_app.config
    host, port = config["SMTP_HOST"], config["SMTP_PORT"]
    timeout = config.get("SMTP_TIMEOUT", 20)
    try:
        if config["SMTP_SSL"]:
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
        with server:
            if config["SMTP_STARTTLS"] and not config["SMTP_SSL"]:
                server.starttls(context=ssl.create_default_context())
            if config["SMTP_USERNAME"]:
                server.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"] or "")
            server.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"The mail server {host}:{port} did not take the message: {exc}") from exc
    return message["Message-ID"]
