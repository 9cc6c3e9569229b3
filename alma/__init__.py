"""Ex Libris Alma: the API client, its error tree, rate limiting, and Dublin Core parsing.

Never imports Celery, tasks or workers; dependencies come in as arguments.
"""

from alma._retry import RetryPolicy
from alma.client import AlmaClient
from alma.dc import DcIdentifier, DcRecord, parse_dc
from alma.errors import (
    AlmaApiError,
    AlmaAuthError,
    AlmaConnectError,
    AlmaError,
    AlmaEventsUnsupported,
    AlmaInvalidId,
    AlmaJobOverlap,
    AlmaJobThreshold,
    AlmaNotFound,
    AlmaQuotaLow,
    AlmaRateLimited,
    AlmaTimeout,
    AlmaTransportError,
    AlmaUnavailable,
    DublinCoreError,
)
from alma.models import Bib, JobInstance
from alma.ratelimit import QuotaGuard, RateLimiter

__all__ = [
    "AlmaApiError",
    "AlmaAuthError",
    "AlmaClient",
    "AlmaConnectError",
    "AlmaError",
    "AlmaEventsUnsupported",
    "AlmaInvalidId",
    "AlmaJobOverlap",
    "AlmaJobThreshold",
    "AlmaNotFound",
    "AlmaQuotaLow",
    "AlmaRateLimited",
    "AlmaTimeout",
    "AlmaTransportError",
    "AlmaUnavailable",
    "Bib",
    "DcIdentifier",
    "DcRecord",
    "DublinCoreError",
    "JobInstance",
    "QuotaGuard",
    "RateLimiter",
    "RetryPolicy",
    "parse_dc",
]
