"""The web front door (`salesflow serve`): forms posted over HTTP, health for monitors.
Like the CLI, it calls the library and holds no SQL and no business rule."""
