"""Configuration: the typed settings (the only reader of the environment), Celery config, logging."""

from config.settings import Settings, SettingsError, get_settings, load_or_exit, load_settings

__all__ = ["Settings", "SettingsError", "get_settings", "load_or_exit", "load_settings"]
