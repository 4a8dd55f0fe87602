"""The operator console: server-rendered pages at /ui/, a door like the API and the CLI."""
