"""The production deployment: the dynamic config gives every provider queue one partition (exact
rates), and the image holds every package the project installs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from connectors.registry import SETTINGS
from workflows.names import provider_queue

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "deploy" / "temporal-dynamicconfig.yaml"


def test_every_provider_queue_has_one_partition() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    for key in ("matching.numTaskqueueReadPartitions", "matching.numTaskqueueWritePartitions"):
        single = {entry["constraints"]["taskQueueName"] for entry in config[key]
                  if entry["value"] == 1 and entry["constraints"].get("taskType") == "Activity"}
        assert single == {provider_queue(p) for p in SETTINGS}, key
    assert config["matching.useNewMatcher"] == [{"value": True}]


def test_the_image_copies_every_package_and_module() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    wanted = {p.rstrip("*") for p in project["packages"]["find"]["include"]}
    wanted |= {f"{m}.py" for m in project["py-modules"]}
    copied = set(re.findall(r"^COPY (\S+) ", (ROOT / "Dockerfile").read_text(), re.M))
    assert wanted <= copied, f"the Dockerfile does not COPY {sorted(wanted - copied)}"
