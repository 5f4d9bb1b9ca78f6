"""server.json (MCP registry) agrees with the package it names; the package builds and serves."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_server_json_names_this_package_and_its_stdio_command():
    server = json.loads((ROOT / "server.json").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert len(server["description"]) <= 100  # the registry's limit
    assert server["version"] == project["version"]
    (package,) = server["packages"]
    assert package["registryType"] == "pypi" and package["identifier"] == project["name"]
    assert package["version"] == project["version"]
    assert package["transport"] == {"type": "stdio"}
    assert [a["value"] for a in package["packageArguments"]] == ["serve"]
    # `uvx NAME` runs the console script called NAME: the package must provide it
    assert project["scripts"][project["name"]] == project["scripts"]["crossmodel-matcher"]
    # the registry checks ownership of a PyPI package by this marker in its README
    assert f"mcp-name: {server['name']}" in (ROOT / project["readme"]).read_text()
