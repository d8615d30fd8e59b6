"""Deals: pipelines with their stages, deals with lines, the board, the list and the card."""
