"""Moves the clock of every Python process started with this folder on PYTHONPATH.

    LOOMWATCH_TEST_DAYS_AHEAD=365 PYTHONPATH=tests/clock loomwatch demo

starts the clock a year ahead (time-machine; it keeps ticking). A test that runs a command
this way moves the clock of the command and of every process it starts in turn (Scrapy's
extraction workers, `loomwatch schedule`'s children), since they inherit the environment:
they all agree on the date, as they would on a machine whose clock says so. Only Python's
clock moves (SQLite's datetime('now') does not): loomwatch never asks SQLite for the time;
the dashboard's SQL asks lw_now(), a function the Datasette plugin gives it.
`make test-next-year` runs the whole suite so.
"""

import os

_days = os.environ.get("LOOMWATCH_TEST_DAYS_AHEAD")
if _days:
    import datetime

    import time_machine

    time_machine.travel(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=float(_days)), tick=True).start()
