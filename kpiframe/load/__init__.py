"""Loading a project: read its files, expand, resolve and validate; the stages before any SQL runs."""
