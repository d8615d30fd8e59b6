"""Installation settings declared by core and plugins through a hook."""
