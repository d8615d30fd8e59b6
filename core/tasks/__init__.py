"""Tasks with deadlines, reminders and escalation, task templates and the iCalendar feed."""
