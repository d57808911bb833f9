"""How every layer declares a setting, and the archive's own settings.

A setting is a dataclass field with its default and a `doc` string (plus limits such as
`minimum`); loomwatch.crawler.config reads these declarations to validate a config file,
document it and write `loomwatch init`'s starter file. Each layer owns the settings types it
takes, so that nothing below the application imports the application's configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def setting(default: Any, doc: str, **kw: Any) -> Any:
    """A documented setting. Lists are copied into tuples so configs stay immutable."""
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: tuple(default), metadata={"doc": doc, **kw})
    return field(default=default, metadata={"doc": doc, **kw})


@dataclass(frozen=True)
class StorageSettings:
    database: Path = setting(Path("loomwatch.db"), "SQLite archive; relative paths are relative to the config file.", path=True)
    busy_timeout: float = setting(30.0, "Seconds a command waits while another program (a sqlite3 shell, a backup tool) holds the archive's write lock, before it gives up with exit 2.", minimum=0)
