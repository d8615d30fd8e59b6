"""The duplicate finder over the whole client registry: a background scan and its review."""
