"""How far a fleet's writer has stored the results its workers streamed (see crawler/fleet)."""

from __future__ import annotations

import sqlite_utils

from loomwatch.storage.clock import utcnow


def stored_up_to(db: sqlite_utils.Database, prefix: str) -> str:
    """The id of the last results-stream entry stored for this Redis key prefix ("0": none)."""
    row = db.execute("SELECT last_entry FROM fleet_cursor WHERE prefix = ?", [prefix]).fetchone()
    return row[0] if row else "0"


def record_stored(db: sqlite_utils.Database, prefix: str, entry: str) -> None:
    """Call inside the transaction that stores the entries up to `entry`."""
    db.conn.execute(
        "INSERT INTO fleet_cursor (prefix, last_entry, updated) VALUES (?, ?, ?) "
        "ON CONFLICT(prefix) DO UPDATE SET last_entry = excluded.last_entry, updated = excluded.updated",
        [prefix, entry, utcnow()],
    )
