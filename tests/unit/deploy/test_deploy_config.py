"""The production dynamic config gives every provider queue one partition (exact rates)."""

from __future__ import annotations

from pathlib import Path

import yaml

from connectors.registry import SETTINGS
from workflows.names import provider_queue

CONFIG = Path(__file__).resolve().parents[3] / "deploy" / "temporal-dynamicconfig.yaml"


def test_every_provider_queue_has_one_partition() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    for key in ("matching.numTaskqueueReadPartitions", "matching.numTaskqueueWritePartitions"):
        single = {entry["constraints"]["taskQueueName"] for entry in config[key]
                  if entry["value"] == 1 and entry["constraints"].get("taskType") == "Activity"}
        assert single == {provider_queue(p) for p in SETTINGS}, key
    assert config["matching.useNewMatcher"] == [{"value": True}]
