"""Tasks (filled in by its issue)."""
