"""MetaManager: the edge's durable cache of what the cloud sent (specs/kubeedge.md §6).

`store` owns the SQLite database (`edgecore.db`); the message handling that fills it
lives beside it. Importing this package loads only the standard library (ARCHITECTURE.md
rule 9).
"""

from kubeedge.edge.metamanager.store import (
    ApplyDelete,
    ApplyUpdate,
    Delete,
    KeyVersion,
    MetaRow,
    MetaStore,
    MetaStoreClosed,
    MetaStoreError,
    Upsert,
)

__all__ = [
    "ApplyDelete",
    "ApplyUpdate",
    "Delete",
    "KeyVersion",
    "MetaRow",
    "MetaStore",
    "MetaStoreClosed",
    "MetaStoreError",
    "Upsert",
]
