"""The seam between a client's next contact date and reminders for its owner.

``next_contact_changed`` is called whenever a client gets a new next contact date or a new
owner: the owner gets a task "Contact <client>" due on that day (see
``core.tasks.services.remind_next_contact``), and once due the date also shows on the
client's timeline (kind ``next_contact``).
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

log = logging.getLogger(__name__)


def next_contact_changed(client: Any, user: Any) -> date | None:
    """React to ``client.next_contact_on`` (or its owner) changed by ``user`` (None outside
    a request): the owner gets a task due that day, moved or cancelled with the date.
    Returns the date to remind the owner of, None when it was cleared."""
    from core.tasks.services import remind_next_contact

    remind_next_contact(client, user)
    log.debug(
        "client %s: next contact on %s (set by %s)",
        client.id,
        client.next_contact_on,
        getattr(user, "id", None),
    )
    return client.next_contact_on
