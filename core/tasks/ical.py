"""A user's open tasks as an iCalendar feed (RFC 5545), written by hand.

A task with a due time is a VEVENT at that time (15 minutes long, with an alarm the task's
reminder time before), because Google Calendar and Outlook show subscribed events on
the calendar grid but Google ignores to-dos; a task without one is a VTODO.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from core.tasks.models import Task

PRIORITY = {"high": 1, "normal": 5, "low": 9}
STATUS = {"open": "NEEDS-ACTION", "in_progress": "IN-PROCESS"}
EVENT_MINUTES = 15


def escape(text: str) -> str:
    """TEXT values: backslash, semicolon, comma and newlines escaped (RFC 5545 3.3.11)."""
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: str) -> str:
    """Lines of at most 75 octets, continued with CRLF and a space (RFC 5545 3.1), never
    splitting a UTF-8 character."""
    out: list[str] = []
    current, size = "", 0
    limit = 75
    for char in line:
        width = len(char.encode())
        if size + width > limit:
            out.append(current)
            current, size, limit = " ", 1, 75
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def feed(tasks: Iterable[Task], host: str, base_url: str, now: datetime) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//CRM//Tasks//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:" + escape("CRM tasks"),
    ]
    for task in tasks:
        component = "VEVENT" if task.due_at is not None else "VTODO"
        lines += [
            f"BEGIN:{component}",
            f"UID:task-{task.id}@{host}",
            f"DTSTAMP:{stamp(now)}",
            f"LAST-MODIFIED:{stamp(task.updated_at)}",
            f"SEQUENCE:{task.version}",
            "SUMMARY:" + escape(task.title),
        ]
        if task.description:
            lines.append("DESCRIPTION:" + escape(task.description))
        lines += [
            f"PRIORITY:{PRIORITY.get(task.priority, 5)}",
            f"URL:{base_url}/tasks/{task.id}",
        ]
        if task.due_at is None:
            lines += [f"STATUS:{STATUS.get(task.status, 'NEEDS-ACTION')}", "END:VTODO"]
            continue
        lines += [
            f"DTSTART:{stamp(task.due_at)}",
            f"DTEND:{stamp(task.due_at + timedelta(minutes=EVENT_MINUTES))}",
            "STATUS:CONFIRMED",
            "TRANSP:TRANSPARENT",
        ]
        if task.remind_before_minutes:
            lines += [
                "BEGIN:VALARM",
                "ACTION:DISPLAY",
                "DESCRIPTION:" + escape(task.title),
                f"TRIGGER:-PT{task.remind_before_minutes}M",
                "END:VALARM",
            ]
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
