"""Plans become sqlglot expression trees here; dialect specifics stay thin."""
