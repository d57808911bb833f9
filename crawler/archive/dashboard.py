"""The analysts' dashboard: its definition (datasette/dashboard.yaml) as datasette-dashboards settings.

The YAML holds the filters, the layout and each chart's SQL and Vega-Lite spec. Every
chart's query begins with `{filtered_reports}`: the common part that applies the filters
(the date range, cluster, province, language, source) to the reports of stories, written
once in the YAML and put in front of each query here. `loomwatch serve` adds the result to
Datasette's metadata under `plugins: datasette-dashboards`, so the dashboard is
/-/dashboards/overview.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from typing import Any

from datasette.utils import parse_metadata

PLACEHOLDER = "{filtered_reports}"
PARAMETERS = ("since", "until", "cluster", "province", "lang", "source")  # the filters, as SQL parameters


@functools.cache
def _definition() -> dict[str, Any]:
    return parse_metadata(files("loomwatch.crawler.archive").joinpath("datasette/dashboard.yaml").read_text(encoding="utf-8"))


def slug() -> str:
    return _definition()["slug"]


def path() -> str:
    return f"/-/dashboards/{slug()}"


def chart_queries() -> dict[str, str]:
    """Each chart's complete SQL, by chart name."""
    common = _definition()["filtered_reports"]
    return {name: chart["query"].replace(PLACEHOLDER, common) for name, chart in _definition()["charts"].items()}


def plugin_settings() -> dict[str, Any]:
    """The `datasette-dashboards` plugin settings: one dashboard, its queries complete."""
    definition = _definition()
    queries = chart_queries()
    charts = {name: {**chart, "query": queries[name]} for name, chart in definition["charts"].items()}
    dashboard = {key: definition[key] for key in ("title", "description", "filters", "layout")}
    return {definition["slug"]: {**dashboard, "charts": charts}}
