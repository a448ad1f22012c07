"""Plot bench/scale.py's JSON: sync time vs records, and time and history size vs connections.

    .venv/bin/pip install matplotlib   # for this plot only, not a Tributary dependency
    .venv/bin/python bench/plot_scale.py [--input docs/scale.json] [--output docs/scale.png]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def duration(batch: dict[str, Any], p: float) -> float:
    """The p-th percentile (nearest rank, as scale.py's table) of the finished syncs' times."""
    ordered = sorted(s["duration_s"] for s in batch["syncs"] if "duration_s" in s)
    return ordered[max(math.ceil(p * len(ordered)) - 1, 0)] if ordered else math.nan


def mean(batch: dict[str, Any], key: str) -> float:
    return sum(s[key] for s in batch["syncs"]) / len(batch["syncs"])


def plot(report: dict[str, Any], output: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        sys.exit("plot_scale.py needs matplotlib, installed for this plot only:\n"
                 "    .venv/bin/pip install matplotlib")
    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot as plt

    by_records = sorted((b for b in report["batches"] if b["sweep"] == "records"),
                        key=lambda b: b["records_per_sync"])
    by_connections = sorted((b for b in report["batches"] if b["sweep"] == "connections"),
                            key=lambda b: b["connections"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))

    records = [b["records_per_sync"] for b in by_records]
    left.plot(records, [duration(b, 1.0) for b in by_records], "o-", label="sync time")
    left.set(title="One connection: time vs records per sync", xlabel="records per sync",
             ylabel="sync time (s)")
    left.set_xlim(left=0)
    left.set_ylim(bottom=0)
    left.grid(alpha=0.3)
    history = left.twinx()
    history.plot(records, [mean(b, "history_events") for b in by_records], "s--", color="C2",
                 label="history events")
    history.set_ylabel("history events (all runs)")
    history.set_ylim(0, _headroom(history))
    _legend(left, history)

    counts = [b["connections"] for b in by_connections]
    right.plot(counts, [b["total_s"] for b in by_connections], "o-", label="all syncs done")
    right.plot(counts, [duration(b, 0.5) for b in by_connections], "^-",
               label="p50 sync time")
    right.plot(counts, [duration(b, 1.0) for b in by_connections], "v:",
               label="max sync time")
    records_each = by_connections[0]["records_per_sync"] if by_connections else 0
    right.set(title=f"Connections at once ({records_each:,} records each, one worker)",
              xlabel="connections syncing at once", ylabel="time (s)")
    right.set_xlim(left=0)
    right.set_ylim(bottom=0)
    right.grid(alpha=0.3)
    size = right.twinx()
    size.plot(counts, [mean(b, "history_bytes") / 1024 for b in by_connections], "s--",
              color="C3", label="history per sync (KiB)")
    size.set_ylabel("history per sync (KiB, all runs)")
    size.set_ylim(0, _headroom(size))
    _legend(right, size)

    fig.suptitle(f"Tributary scale ({report['database']}, {report['machine']['cpus']} CPUs)")
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=120)


def _headroom(axis: Any) -> float:
    return axis.get_ylim()[1] * 1.15


def _legend(axis: Any, twin: Any) -> None:
    lines, labels = axis.get_legend_handles_labels()
    more, more_labels = twin.get_legend_handles_labels()
    # Times rise to the upper right, history per sync stays near the top: this corner is free.
    axis.legend(lines + more, labels + more_labels, loc="lower right")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", type=Path, default=ROOT / "docs" / "scale.json")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "scale.png")
    args = parser.parse_args()
    plot(json.loads(args.input.read_text()), args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
