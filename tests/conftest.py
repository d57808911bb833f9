"""Shared fixtures: local example sites served over real HTTP (see tests/sites/README.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loomwatch.crawler.demo.sitefarm import DEMO_SITES, SiteFarm

TEST_SITES = Path(__file__).parent / "sites"


@pytest.fixture(scope="session")
def site_farm_session() -> Iterator[SiteFarm]:
    """The test sites, started once per session. Module-scoped fixtures that crawl
    once and assert many times use this one (and must not mix it with `site_farm`,
    which clears the logs)."""
    with SiteFarm(TEST_SITES) as farm:
        yield farm


@pytest.fixture
def site_farm(site_farm_session: SiteFarm) -> SiteFarm:
    """The test sites with empty request logs, concurrency peaks and fail_first counts."""
    site_farm_session.reset_log()
    return site_farm_session


@pytest.fixture(scope="session")
def demo_farm() -> Iterator[SiteFarm]:
    """The bundled demo snapshot (loomwatch/crawler/demo/sites), started once per session."""
    with SiteFarm(DEMO_SITES) as farm:
        yield farm


def record_run(db, sources: list[dict], day: str, results: list) -> int:
    """A crawl run of `sources` with these SourceResults, stamped 02:00-02:05 UTC on `day`
    (start_run and finish_run use the real clock)."""
    from loomwatch.storage.runs import finish_run, start_run

    run_id = start_run(db, sources)
    finish_run(db, run_id, results)
    with db.atomic():
        db.execute("UPDATE crawl_runs SET started = ?, finished = ? WHERE id = ?", [f"{day} 02:00:00", f"{day} 02:05:00", run_id])
    return run_id


async def get_all(path: Path, urls: list[str]) -> list:
    """Each URL's response from one real Datasette on the archive at `path`, whatever the status."""
    from loomwatch.crawler.archive.serve import build_datasette

    ds = build_datasette(path)
    await ds.invoke_startup()
    return [await ds.client.get(url) for url in urls]


def get(path: Path, *urls: str) -> list:
    """GET each URL from a real Datasette on the archive (one instance, one event loop); each must answer 200."""
    import asyncio

    responses = asyncio.run(get_all(path, list(urls)))
    for url, response in zip(urls, responses):
        assert response.status_code == 200, f"{url}: {response.status_code} {response.text[:500]}"
    return responses
