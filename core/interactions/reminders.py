"""The seam between a client's next contact date and reminders for its owner.

``next_contact_changed`` is called whenever a client gets a new next contact date. The
tasks module makes it create a reminder task for the owner; until then the date is only
shown, once due, on the client's timeline (kind ``next_contact``).
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

log = logging.getLogger(__name__)


def next_contact_changed(client: Any, user: Any) -> date | None:
    """React to ``client.next_contact_on`` set or changed by ``user`` (None outside a
    request); returns the date to remind the owner of, None when it was cleared."""
    due = client.next_contact_on
    log.debug(
        "client %s: next contact on %s (set by %s)", client.id, due, getattr(user, "id", None)
    )
    return due
