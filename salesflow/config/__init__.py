"""Project files: loading with positions, shape (JSON Schema), meaning (cross-checks), model."""
