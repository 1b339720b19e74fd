"""The registry: one DynamoDB table (keys `pk`, `sk`) holding each lineage's state, iterations,
queued uploads and upload markers (docs/architecture.md, "Registry").

Every write that could race or be retried is conditional, and every multi-item change that must
not be seen half-done is one TransactWriteItems. DynamoDB Decimals never leave this module.
"""

from iterft_runtime.dal.registry_base import (
    IterationNotFoundError,
    LockNotHeldError,
    RegistryStateMissingError,
    from_dynamo,
    to_dynamo,
)
from iterft_runtime.dal.registry_dispatch import SPEND_ATTEMPTS, Dispatcher, MonthSpend

__all__ = [
    "SPEND_ATTEMPTS",
    "IterationNotFoundError",
    "LockNotHeldError",
    "MonthSpend",
    "Registry",
    "RegistryStateMissingError",
    "from_dynamo",
    "to_dynamo",
]


class Registry(Dispatcher):
    """All registry reads and writes for one table.

    Composed by concern: the low-level item access (dal/registry_base.py), lineage state and
    iterations (dal/registry_state.py), the upload ledger and queue (dal/registry_uploads.py), and
    dispatch and the lock (dal/registry_dispatch.py).
    """
