"""Reactions inside the sales plugin to a deal entering a stage.

Whatever moves a deal (the board, the API, a web form, an automation) records a
``StageChange`` and, after committing it, calls ``stage_entered``; the parts of the plugin
that react (stage rules, notifications) register a listener here. A listener that raises
is logged and does not stop the others or undo the move.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Listener = Callable[[Any, Any, Any], None]  # (deal, stage change, acting user or None)
_listeners: list[Listener] = []


def on_stage_entered(listener: Listener) -> Listener:
    """Register ``listener(deal, change, actor)``; usable as a decorator."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def stage_entered(deal: Any, change: Any, actor: Any = None) -> None:
    """Tell every listener that ``deal`` entered ``change.to_stage_id`` (committed)."""
    for listener in list(_listeners):
        try:
            listener(deal, change, actor)
        except Exception:  # noqa: BLE001 - one failing reaction must not undo the move
            log.exception("sales: a reaction to deal %s entering a stage failed", deal.id)
