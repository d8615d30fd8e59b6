"""A real SMTP server on loopback for tests and benchmarks (no pytest needed: the
benchmarks import it too)."""

from __future__ import annotations

import email
import email.message
import email.policy
import socket


class SmtpSink:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

    ``messages`` holds the parsed messages; set ``refuse`` to an SMTP reply (e.g.
    "451 4.3.0 Try again later") to make it refuse every message until it is set to None.
    """

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.EmailMessage] = []
        self.refuse: str | None = None
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
                if sink.refuse:
                    return sink.refuse
                sink.messages.append(
                    email.message_from_bytes(envelope.content, policy=email.policy.default)
                )
                return "250 Message accepted for delivery"

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
