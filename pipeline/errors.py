"""Errors of the pipeline service; each message is one line an operator can act on."""

from __future__ import annotations


class PipelineError(Exception):
    """Root of the pipeline's errors."""


class InvalidSetId(PipelineError):
    """A set id that is not an Alma set id (digits only)."""


class SetNotUsable(PipelineError):
    """The set is unknown, empty, or does not hold titles."""


class NotWaiting(PipelineError):
    """``handles confirm`` on a run that is not waiting for the operator."""
