"""Runtime scoring: config, lead data access, validation and point-in-time features."""
