"""SQLite storage: one module per table group owns its SQL."""
