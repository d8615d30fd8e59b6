"""Reactions inside the sales plugin to an invoice becoming fully paid.

``register_payment`` and ``mark_paid_from_accounting`` call ``invoice_paid`` after the
payment is committed; whoever reacts (stage automation moving the deal to "Installation")
registers a listener with ``on_invoice_paid``. A listener that raises is logged and does
not stop the others or undo the payment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Listener = Callable[[Any, Any], None]  # (invoice, acting user or None)
_listeners: list[Listener] = []


def on_invoice_paid(listener: Listener) -> Listener:
    """Register ``listener(invoice, actor)``; usable as a decorator."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def invoice_paid(invoice: Any, actor: Any = None) -> None:
    """Tell every listener that ``invoice`` is now paid in full (committed)."""
    for listener in list(_listeners):
        try:
            listener(invoice, actor)
        except Exception:  # noqa: BLE001 - one failing reaction must not undo the payment
            log.exception("sales: a reaction to invoice %s being paid failed", invoice.number)
