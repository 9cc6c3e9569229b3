"""The handles command line."""
