"""The seed's four panels (allocation, load, transfer, processing per node) for each strategy.

matplotlib is an optional extra (``pip install 'cloud-edge-scheduler[plot]'``); without it
:func:`plot` raises :class:`PlotUnavailable` with the install command.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any

from cloudedge import errors


class PlotUnavailable(errors.CloudEdgeError):
    """matplotlib is not installed."""


def plot(reports: Sequence[dict[str, Any]], path: str | pathlib.Path) -> None:
    """Write one PNG: a row per strategy report, the seed's four panels per row."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise PlotUnavailable(
            "--plot needs matplotlib: pip install 'cloud-edge-scheduler[plot]'"
        ) from err
    rows = len(reports)
    fig, axes = plt.subplots(rows, 4, figsize=(18, 3.6 * rows), squeeze=False)
    for r, doc in enumerate(reports):
        names = [n["name"] for n in doc["nodes"]]
        colors = ["tab:blue" if n["tier"] == "cloud" else "tab:green" for n in doc["nodes"]]
        cap = [n["capacity"]["cpu"] for n in doc["nodes"]]
        used = [n["allocated"]["cpu"] for n in doc["nodes"]]
        load = [u / c if c else 0.0 for u, c in zip(used, cap, strict=True)]
        panels = [
            ("CPU allocated / capacity (m)", used, cap),
            ("load (CPU utilization)", load, None),
            ("transfer time per node (s)", [n["transfer_s"] for n in doc["nodes"]], None),
            ("processing time per node (s)", [n["processing_s"] for n in doc["nodes"]], None),
        ]
        for c, (title, values, outline) in enumerate(panels):
            ax = axes[r][c]
            ax.bar(names, values, color=colors)
            if outline is not None:
                ax.bar(names, outline, fill=False, edgecolor="black", linewidth=1)
            ax.set_title(
                f"{doc['strategy']}: {title}\nplaced {doc['placed']}, "
                f"unschedulable {doc['unschedulable']}",
                fontsize=9,
            )
            ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
