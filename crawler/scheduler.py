"""`loomwatch schedule`: a long-running daemon that crawls and mails the digest on time.

Every job runs `loomwatch crawl` or `loomwatch digest --send` as a fresh child process:
Twisted's reactor cannot be restarted, and a crawler process that lives for weeks grows, so
the daemon itself holds nothing but the schedule and its memory stays flat. Each child gets
its own process group, so stopping it also stops its extraction workers.

* No overlap: each job has `max_instances=1` and `coalesce=True`; crawls also take the
  database's crawl lock, so cron and the daemon can run side by side (a crawl that finds the
  lock held is logged and recorded as skipped).
* Catch-up: at start-up a job whose scheduled time passed since it last ran (the machine was
  off) runs once, at once. A digest counts as done when a whole `digest --send` finished
  (every subscription, none failed; one mailed by hand does not count); the digest window
  ("since the last digest sent") makes a late digest safe.
* Time limit: a crawl running past `schedule.crawl_timeout` is stopped (SIGTERM, then SIGKILL to
  its process group if it lingers) and recorded as failed.
* SIGTERM / SIGINT: no new jobs; a running job gets `schedule.shutdown_grace` seconds to
  finish, then is stopped the same way; exit 0. A second signal stops it at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from loomwatch.crawler.config import Config, ConfigError
from loomwatch.storage import open_database, utcnow
from loomwatch.storage.clock import parse_db_time
from loomwatch.storage.health import (
    last_crawl_started,
    last_digest_run,
    mark_run_failed,
    record_skipped_run,
)

log = logging.getLogger(__name__)

INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# A late run is still worth doing (coalesce makes it one run): a crawl up to an hour late,
# a digest the same day.
MISFIRE_GRACE = {"crawl": 3600, "digest": 12 * 3600}
DIGEST_TIMEOUT = 900.0  # seconds; rendering and mailing one digest takes seconds
TERM_WAIT = 20.0  # seconds between SIGTERM and SIGKILL: Scrapy closes cleanly within this
EXIT_SOURCE_FAILED, EXIT_CONFIG, EXIT_LOCKED = 1, 2, 3  # as in loomwatch.crawler.cli
TIME = "%Y-%m-%d %H:%M:%S %Z"  # schedule times, in the configured time zone
MESSAGE = "loomwatch: "  # how the command starts a message to the operator on stderr (crawler.cli)
ALERT_MESSAGE = "alert "  # ... about an alert it could not mail (cli.after_crawl)


def parse_trigger(spec: str, timezone: str, *, key: str = "schedule.crawl", where: str = "config",
                  start: dt.datetime | None = None) -> BaseTrigger | None:
    """A trigger for a 5-field cron expression or an interval ("20s", "15m", "4h", "1d"), in
    `timezone`; None for an empty spec. Intervals count from `start` (default: now)."""
    if not spec.strip():
        return None
    tz = zoneinfo.ZoneInfo(timezone)
    m = INTERVAL.match(spec)
    if m:
        amount = int(m.group(1))
        if amount == 0:
            raise ConfigError(f"{where}: key '{key}': {spec!r} is a zero interval; use e.g. \"15m\", or \"\" to switch the job off")
        if amount * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)] > 366 * 86400:  # far ones overflow datetime
            raise ConfigError(f"{where}: key '{key}': {spec!r} is longer than a year; use e.g. \"7d\", a cron expression, "
                              "or \"\" to switch the job off")
        return IntervalTrigger(**{UNITS[m.group(2)]: amount}, start_date=start or dt.datetime.now(tz), timezone=tz)
    try:
        return CronTrigger.from_crontab(spec, timezone=tz)
    except ValueError as exc:
        raise ConfigError(
            f"{where}: key '{key}': {spec!r} is neither an interval nor a 5-field cron expression ({exc}); "
            "write e.g. \"0 */4 * * *\" (minute hour day month weekday) or \"4h\" (s, m, h, d)") from None


@dataclass(frozen=True)
class JobPlan:
    """When a job first runs after start-up, and by which trigger afterwards."""

    name: str
    trigger: BaseTrigger
    first_run: dt.datetime
    catch_up: bool  # first_run makes up for a run missed while the daemon was down


def plan_job(name: str, spec: str, timezone: str, last_done: dt.datetime | None, now: dt.datetime, *,
             run_if_never: bool, where: str = "config") -> JobPlan | None:
    """Plan one job: `last_done` is when it last ran (from the archive), `now` the clock.

    A job whose scheduled time passed since `last_done` runs at once (catch-up); so does one
    that never ran when `run_if_never`. Intervals keep counting from the last run across
    restarts, so restarting the daemon neither delays nor repeats a crawl.
    """
    trigger = parse_trigger(spec, timezone, key=f"schedule.{name}", where=where)
    if trigger is None:
        return None
    if isinstance(trigger, IntervalTrigger):
        # A last run stamped after `now` (the clock was set back) counts as just now, not as a start date far ahead.
        due = (min(last_done, now) + trigger.interval) if last_done else (now if run_if_never else now + trigger.interval)
        catch_up = last_done is not None and due <= now
        first = max(due, now)
        trigger = parse_trigger(spec, timezone, key=f"schedule.{name}", where=where, start=first)
        return JobPlan(name, trigger, first, catch_up)  # type: ignore[arg-type]
    upcoming = trigger.get_next_fire_time(None, now)
    if upcoming is None:
        raise ConfigError(f"{where}: key 'schedule.{name}': {spec!r} never fires (no such date); check the day and month fields")
    if last_done is None:
        missed = run_if_never
    else:
        # Times in the archive have whole seconds; the run itself starts a moment after its fire time.
        missed_fire = trigger.get_next_fire_time(None, last_done + dt.timedelta(seconds=1))
        missed = missed_fire is not None and missed_fire <= now
    return JobPlan(name, trigger, now if missed else upcoming, missed and last_done is not None)


def _utc(text: str | None) -> dt.datetime | None:
    return parse_db_time(text) if text else None


def plan_jobs(config: Config, now: dt.datetime | None = None) -> list[JobPlan]:
    """The crawl and digest jobs of `config`, with their catch-up decided from the archive."""
    now = now or dt.datetime.now(zoneinfo.ZoneInfo(config.timezone))
    where = str(config.path or "config")
    db = open_database(config.storage.database, busy_timeout=config.storage.busy_timeout)
    try:
        last_crawl, last_digest = _utc(last_crawl_started(db)), _utc(last_digest_run(db))
    finally:
        db.close()
    plans = [
        plan_job("crawl", config.schedule.crawl, config.timezone, last_crawl, now, run_if_never=True, where=where),
        plan_job("digest", config.schedule.digest, config.timezone, last_digest, now, run_if_never=False, where=where),
    ]
    found = [p for p in plans if p is not None]
    if not found:
        raise ConfigError(f"{where}: [schedule] crawl and digest are both empty: nothing to schedule; "
                          "set e.g. crawl = \"0 */4 * * *\"")
    return found


class _Stop(Exception):
    """Raised by the SIGTERM/SIGINT handler to leave the scheduler's loop."""


@dataclass
class JobOutcome:
    name: str
    outcome: str  # ok, sources failed, skipped, timed out, stopped, failed
    returncode: int | None
    seconds: float
    pid: int | None = None


class Daemon:
    """The scheduler with its two jobs; `run()` blocks until SIGTERM/SIGINT and returns 0."""

    def __init__(self, config: Config, *, child_flags: Sequence[str] = (), now: dt.datetime | None = None):
        self.config = config
        self.child_flags = list(child_flags)  # -q / -v passed on to the children
        self.plans = plan_jobs(config, now)
        self.stopping = threading.Event()
        self.hurry = threading.Event()  # a second signal: stop the running job now
        self.signal_name = ""
        self.children: dict[str, subprocess.Popen] = {}
        self.stopped: set[int] = set()  # pids this daemon stopped at shutdown
        self.term_wait = TERM_WAIT
        self.active = 0
        self.cond = threading.Condition()
        tz = zoneinfo.ZoneInfo(config.timezone)
        self.scheduler = BlockingScheduler(
            timezone=tz,
            executors={"default": ThreadPoolExecutor(max_workers=len(self.plans))},
            job_defaults={"max_instances": 1, "coalesce": True},
        )
        jobs: dict[str, Callable[[], Any]] = {"crawl": self.crawl_job, "digest": self.digest_job}
        for plan in self.plans:
            self.scheduler.add_job(jobs[plan.name], plan.trigger, id=plan.name, name=plan.name,
                                   next_run_time=plan.first_run, misfire_grace_time=MISFIRE_GRACE[plan.name])

    # -- commands ---------------------------------------------------------------------------

    def command(self, *args: str) -> list[str]:
        config = ["--config", str(self.config.path)] if self.config.path else []
        return [sys.executable, "-m", "loomwatch.crawler", *self.child_flags, *args, *config]

    def crawl_job(self) -> JobOutcome:
        crawl = ["crawl", "--fleet"] if self.config.fleet.scheduled else ["crawl"]
        return self.run_child("crawl", self.command(*crawl), self.config.schedule.crawl_timeout)

    def digest_job(self) -> JobOutcome:
        return self.run_child("digest", self.command("digest", "--send"), DIGEST_TIMEOUT)

    # -- running one child ------------------------------------------------------------------

    def run_child(self, name: str, argv: list[str], timeout: float) -> JobOutcome:
        """Run one job's process to its end, time limit or shutdown; log and record the outcome."""
        with self.cond:
            if self.stopping.is_set():
                return JobOutcome(name, "not started: shutting down", None, 0.0)
            self.active += 1
        try:
            return self._run_child(name, argv, timeout)
        except Exception:
            log.exception("%s: the job failed to run", name)
            return JobOutcome(name, "failed", None, 0.0)
        finally:
            with self.cond:
                self.active -= 1
                self.cond.notify_all()

    def _run_child(self, name: str, argv: list[str], timeout: float) -> JobOutcome:
        since = utcnow()
        clock = time.monotonic()
        with self.cond:  # registered under the lock, so a shutdown either sees it or prevents it
            if self.stopping.is_set():
                return JobOutcome(name, "not started: shutting down", None, 0.0)
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True, text=True, errors="replace", bufsize=1)
            self.children[name] = proc
        log.info("%s: started (pid %d)", name, proc.pid)
        said: list[str] = []  # the command's own messages ("loomwatch: ..." on stderr)
        relays = [threading.Thread(target=_relay, args=(name, proc.pid, stream, parse, said), name=f"relay-{name}", daemon=True)
                  for stream, parse in ((proc.stdout, False), (proc.stderr, True))]
        for relay in relays:
            relay.start()
        timed_out = False
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            limit = "schedule.crawl_timeout" if name == "crawl" else "the digest's time limit"
            log.error("%s: still running after %.0f s (%s): stopping it", name, timeout, limit)
            stop_process_group(proc, self.term_wait)
            rc = proc.returncode
        finally:
            with self.cond:
                self.children.pop(name, None)
        _kill_stragglers(proc.pid)
        for relay in relays:
            relay.join(timeout=5)
        seconds = time.monotonic() - clock
        outcome = self._outcome(name, rc, timed_out, proc.pid, since, timeout, said)
        level = logging.INFO if outcome == "ok" else (logging.WARNING if outcome in ("skipped", "sources failed", "stopped") else logging.ERROR)
        job = None if self.stopping.is_set() else self.scheduler.get_job(name)
        following = f"; next run {job.next_run_time.strftime(TIME)}" if job and job.next_run_time else ""
        log.log(level, "%s: finished in %.1f s: %s (exit code %s)%s", name, seconds, outcome, rc, following)
        return JobOutcome(name, outcome, rc, seconds, proc.pid)

    def _outcome(self, name: str, rc: int | None, timed_out: bool, pid: int, since: str, timeout: float,
                 said: Sequence[str] = ()) -> str:
        if timed_out:
            if name == "crawl":
                self._record(lambda db: mark_run_failed(db, pid, since, f"stopped by loomwatch schedule after {timeout:.0f} s (schedule.crawl_timeout)"))
            return "timed out"
        if pid in self.stopped:
            return "stopped"
        if rc == 0:
            return "ok"
        if rc == EXIT_SOURCE_FAILED:
            if name != "crawl":
                return "failed"
            # A crawl exits 1 when sources failed, but also when it could not do its work at all
            # (a fleet's Redis unreachable or full, no worker took the run, the disk full): then it
            # said why in a message of its own. An alert not mailed leaves the crawl's outcome alone.
            problems = [m for m in said if not m.startswith(ALERT_MESSAGE)]
            if problems:
                log.error("%s: failed: %s", name, problems[-1])
                return "failed"
            return "sources failed"
        if rc == EXIT_LOCKED:
            if name == "crawl":
                log.warning("crawl: skipped: another crawl holds the database lock (cron, or one started by hand)")
                self._record(lambda db: record_skipped_run(db, "scheduled crawl skipped: another crawl held the database lock"))
            else:
                log.warning("digest: skipped: another `loomwatch digest --send` is mailing from this archive")
            return "skipped"
        if rc == EXIT_CONFIG:
            log.error("%s: configuration or usage problem; fix it (see the message above) — the daemon keeps the old schedule", name)
        return "failed"

    def _record(self, write: Callable[[Any], Any]) -> None:
        try:
            db = open_database(self.config.storage.database, busy_timeout=self.config.storage.busy_timeout)
            try:
                write(db)
            finally:
                db.close()
        except Exception:
            log.exception("could not record the outcome in %s", self.config.storage.database)

    # -- running and stopping ---------------------------------------------------------------

    def _request_stop(self, signum: int) -> bool:
        """Set the stop flags; True for the first request, False for a second one."""
        if self.stopping.is_set():
            self.hurry.set()
            return False
        self.signal_name = signal.Signals(signum).name
        self.stopping.set()
        return True

    def _on_signal(self, signum: int, frame: Any) -> None:
        # Leave the scheduler's loop by an exception, as Ctrl-C does: calling into the scheduler
        # from a handler could wait on a lock the interrupted main thread holds.
        if self._request_stop(signum):
            raise _Stop

    def stop(self) -> None:
        """Stop scheduling, as SIGTERM does, from another thread."""
        if self._request_stop(signal.SIGTERM):
            self._shutdown_scheduler()

    def _shutdown_scheduler(self) -> None:
        try:
            self.scheduler.shutdown(wait=False)
        except SchedulerNotRunningError:
            pass

    def run(self) -> int:
        for plan in self.plans:
            spec = getattr(self.config.schedule, plan.name)
            note = " (catching up a run missed while loomwatch schedule was not running)" if plan.catch_up else ""
            log.info("%s: %r in %s; first run %s%s", plan.name, spec, self.config.timezone,
                     plan.first_run.astimezone(zoneinfo.ZoneInfo(self.config.timezone)).strftime(TIME), note)
        previous: dict[int, Any] = {}
        try:
            try:
                for s in (signal.SIGTERM, signal.SIGINT):
                    previous[s] = signal.signal(s, self._on_signal)
                if not self.stopping.is_set():
                    self.scheduler.start()
            except _Stop:
                pass
            self._shutdown_scheduler()
            log.info("received %s: scheduling stopped", self.signal_name or "a stop request")
            self.finish_running_jobs(self.config.schedule.shutdown_grace)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        log.info("loomwatch schedule stopped")
        return 0

    def finish_running_jobs(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        with self.cond:
            if self.active:
                log.info("waiting up to %.0f s for %s to finish (schedule.shutdown_grace)", grace, ", ".join(self.children) or "a job")
            while self.active and not self.hurry.is_set() and time.monotonic() < deadline:
                self.cond.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            running = list(self.children.items())
        for name, proc in running:
            log.warning("%s: still running at shutdown: stopping it", name)
            self.stopped.add(proc.pid)
            stop_process_group(proc, self.term_wait)
        with self.cond:  # the job threads record the outcome, then end
            end = time.monotonic() + 10
            while self.active and time.monotonic() < end:
                self.cond.wait(0.2)


CHILD_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def _relay(name: str, pid: int, stream: Any, parse: bool, said: list[str]) -> None:
    """Copy a child's output into the daemon's log (and so into the log file). Its stdout
    (the command's report) at INFO; its stderr (its log) at the level each record was logged
    at, continuation lines (tracebacks, pretty-printed dicts) at the level of their record.
    The command's own messages on stderr (`loomwatch: ...`) are also added to `said`."""
    level = logging.INFO
    for line in stream:
        line = line.rstrip()
        m = CHILD_LOG_LINE.match(line) if parse else None
        if m:
            level = logging.getLevelName(m.group(1))
            line = line[m.end():]
        elif parse and line.startswith(MESSAGE):
            said.append(line[len(MESSAGE):])
        if line:
            log.log(level, "%s[%d] %s", name, pid, line)
    stream.close()


def stop_process_group(proc: subprocess.Popen, term_wait: float = TERM_WAIT) -> None:
    """SIGTERM the child (Scrapy then stops its workers and records the run cleanly); if it
    lingers past `term_wait` seconds, SIGKILL its whole process group."""
    for send, wait in ((lambda: proc.send_signal(signal.SIGTERM), term_wait), (lambda: os.killpg(proc.pid, signal.SIGKILL), 10.0)):
        try:
            send()
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _kill_stragglers(pgid: int) -> None:
    # Worker processes orphaned by a crashed crawl would otherwise live on and hold its output pipe.
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
