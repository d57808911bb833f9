"""How the archive writes times: UTC text, `YYYY-MM-DD HH:MM:SS` (what SQLite's datetime() gives)."""

from __future__ import annotations

import datetime as dt

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # how every time in the archive is written, in UTC


def db_time(moment: dt.datetime) -> str:
    """An aware datetime as the archive stores times."""
    return moment.astimezone(dt.timezone.utc).strftime(TIME_FORMAT)


def parse_db_time(text: str) -> dt.datetime:
    """A time read from the archive, as an aware UTC datetime."""
    return dt.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=dt.timezone.utc)


def utcnow() -> str:
    return db_time(dt.datetime.now(dt.timezone.utc))
