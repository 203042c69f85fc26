"""The SQLite store: one file, created and migrated on first use; one module per table family."""
