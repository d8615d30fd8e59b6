"""Plugin discovery, state, hook calling and migrations."""

import pluggy

hookimpl = pluggy.HookimplMarker("crm")

__all__ = ["hookimpl"]
