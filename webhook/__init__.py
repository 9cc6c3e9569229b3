"""The listener for Alma's JOB_END webhook: an adapter like the CLI (see docs/DESIGN.md)."""
