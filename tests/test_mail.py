"""Mail goes to a real SMTP server on loopback; a refusing or absent server is an error."""

from __future__ import annotations

import socket

import pytest

from core.mail import Attachment, MailError, send_mail


def test_a_message_with_an_attachment_reaches_the_server(app, smtp_server):
    with app.app_context():
        send_mail(
            ["ivan@example.md"],
            "Предложение / Ofertă",
            "Здравствуйте, Иван Петрович!",
            attachments=[Attachment("offer.pdf", b"%PDF-1.4 test", "application/pdf")],
        )
    [message] = smtp_server.messages
    assert message["To"] == "ivan@example.md"
    assert message["Subject"] == "Предложение / Ofertă"
    assert "Иван Петрович" in message.get_body(("plain",)).get_content()
    [attached] = list(message.iter_attachments())
    assert attached.get_filename() == "offer.pdf"
    assert attached.get_content() == b"%PDF-1.4 test"


def test_a_refusing_server_raises_and_keeps_nothing(app, smtp_server):
    smtp_server.refuse = "451 4.3.0 Try again later"
    with app.app_context(), pytest.raises(MailError, match="did not take"):
        send_mail("ivan@example.md", "Hello", "Body")
    assert smtp_server.messages == []


def test_an_absent_server_raises(app):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe closes
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_TIMEOUT=2)
    with app.app_context(), pytest.raises(MailError, match=str(port)):
        send_mail("ivan@example.md", "Hello", "Body")


def test_no_recipient_is_refused(app):
    with app.app_context(), pytest.raises(MailError, match="no recipient"):
        send_mail([], "Hello", "Body")
