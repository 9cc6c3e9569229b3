"""Handles: syntax, resolution checks, and the institution's own Handle server."""
