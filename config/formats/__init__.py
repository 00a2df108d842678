"""Date formats of the desk: one format (ISO 8601) on every page, list and form."""
