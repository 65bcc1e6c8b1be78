"""Runtime scoring: config, lead data access, point-in-time features (and later the model runtime)."""
