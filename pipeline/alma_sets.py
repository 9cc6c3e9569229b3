"""Itemized sets the product makes in Alma (a batch's, the profile's): one rule for a name Alma
already holds."""

from __future__ import annotations

import logging

from alma.errors import AlmaApiError
from pipeline.context import PipelineContext

log = logging.getLogger("handles.pipeline")

__all__ = ["NAME_TAKEN", "create_named_set"]

NAME_TAKEN = "402263"  # Alma: a set with this name already exists


def create_named_set(
    ctx: PipelineContext, run_id: int, name: str, *, content: str, description: str
) -> tuple[str, str]:
    """The id and the name of the empty itemized set made as ``name``.

    When Alma already holds a set of that name (made by a visit that was interrupted before it
    recorded the set, or whose answer was lost), that set's id is unknown here: it is left alone,
    since it may be another database's run of the same number, and the set gets a dated name.
    """
    try:
        created = ctx.alma.create_itemized_set(name, content=content, description=description)
        return str(created["id"]), name
    except AlmaApiError as exc:
        if exc.error_code != NAME_TAKEN:
            raise
    dated = f"{name} ({ctx.now():%Y-%m-%d %H:%M:%S})"
    log.warning(
        "run %s: Alma holds a set named %r already (an interrupted visit, or an answer lost on the "
        "way); using %r: remove the older one in Alma if it is this run's",
        run_id,
        name,
        dated,
    )
    created = ctx.alma.create_itemized_set(dated, content=content, description=description)
    return str(created["id"]), dated
