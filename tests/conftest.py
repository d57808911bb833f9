"""Shared fixtures: local example sites served over real HTTP (see tests/sites/README.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loomwatch.crawler.sitefarm import DEMO_SITES, SiteFarm

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
