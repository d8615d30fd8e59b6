"""Interaction history: calls, meetings, letters and notes on clients, comments with
@mentions on any record, and the client card's timeline that merges them with the audit
history and what plugins contribute (``timeline_items``)."""
