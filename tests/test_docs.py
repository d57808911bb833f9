"""The README is the front door: every command is in it, and every document it links to exists."""

from __future__ import annotations

import re
from pathlib import Path

import click

from loomwatch.crawler.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix: str = "loomwatch") -> list[str]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += commands(command, f"{prefix} {name}")
        else:
            found.append(f"{prefix} {name}")
    return found


def test_every_command_is_in_the_readme():
    missing = [c for c in commands(main) if f"`{c}" not in README]
    assert not missing, f"README.md does not mention {missing}"


def test_readme_links_resolve():
    for target in re.findall(r"\]\(([^)#]+?)\)", README):
        if not target.startswith(("http://", "https://")):
            assert (ROOT / target).exists(), target


def test_the_readme_set_up_commands_are_the_makefile_targets_ci_runs():
    assert "make demo" in README and "make test" in README
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo: ", makefile, re.M) and re.search(r"^test: ", makefile, re.M)
    assert (ROOT / ".ci" / "run").read_text(encoding="utf-8").rstrip().endswith("make test")


def test_the_layout_section_names_every_folder_and_module():
    layout = README.split("## Package layout", 1)[1].split("\n## ", 1)[0]
    missing = []
    for folder in ("crawler", "spiders", "pipelines", "storage"):
        for path in sorted((ROOT / folder).iterdir()):
            if path.name.startswith(("_", ".")) or path.suffix not in (".py", ""):
                continue
            if path.stem not in layout:
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"README.md's Package layout does not mention {missing}"


def systemd_units() -> dict[str, dict[str, str]]:
    """The systemd units shown in the README and docs/: document and first line -> key -> value."""
    units = {}
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```ini\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            lines = [line.strip() for line in block.splitlines()]
            if "[Unit]" in lines:
                keys = dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
                units[f"{doc.name}: {keys['Description']}"] = keys
    return units


def test_every_systemd_unit_waits_for_its_folder_to_be_mounted():
    # A late-mounted disk would make loomwatch exit 2 (no archive folder, no configuration),
    # and the units do not restart on exit 2.
    units = systemd_units()
    assert len(units) >= 2, units
    for name, keys in units.items():
        mounts = keys.get("RequiresMountsFor", "").split()
        assert keys["WorkingDirectory"] in mounts, f"{name}: RequiresMountsFor= does not name {keys['WorkingDirectory']}"
