"""How an agent behaves, in the five figures the simulator is calibrated on, and the comparison of a
simulated set of trajectories with real ones.

The figures, all from the canonical tables (`lrat.stats` for the first four):
- `browses_per_search`: total browses / total searches;
- `mean_browsed_rank`: mean rank of a browsed document in the latest result list that showed it;
- `median_reasoning_tokens`: median length of the reasoning after a browse, in the default model's tokens;
- `searches_per_trajectory`: mean search calls per trajectory;
- `rejection_rate`: share of browses whose post-browse reasoning the rule judge rejects.
"""

from __future__ import annotations

import os
from typing import Any

from lrat import stats as stats_module
from lrat.mining import mine_with_report
from lrat.trajectories import PathsLike, read_trajectories

FIGURES = (
    "browses_per_search",
    "mean_browsed_rank",
    "median_reasoning_tokens",
    "searches_per_trajectory",
    "rejection_rate",
)
TOLERANCE = 0.2
"""The simulator's defaults must land within this relative distance of the real figures."""


def behaviour(logs: PathsLike, *, tokenizer: str | os.PathLike[str] | None = None) -> dict[str, float]:
    """The five figures of a set of trajectory files."""
    s = stats_module.compute(read_trajectories(logs, strict=True), tokenizer=tokenizer)
    _, report = mine_with_report(
        logs,
        judge="rules",
        weighting="none",
        outcomes="all",
        keep_rejected=True,
        exclude_accepted=False,
        strict=True,
    )
    judged = report.accepted + report.rejected
    return {
        "browses_per_search": float(s["table1"]["all"]["browse_search_ratio"] or 0.0),
        "mean_browsed_rank": float(s["browsed_ranks"]["mean"] or 0.0),
        "median_reasoning_tokens": float(s["reasoning_tokens"]["quantiles"]["0.5"]),
        "searches_per_trajectory": float(s["table1"]["all"]["avg_searches"]),
        "rejection_rate": report.rejected / judged if judged else 0.0,
    }


def compare(real: dict[str, float], simulated: dict[str, float], tolerance: float = TOLERANCE) -> list[dict[str, Any]]:
    """One row per figure: both values, simulated / real, and whether it is within `tolerance`."""
    rows = []
    for name in FIGURES:
        r, s = real[name], simulated[name]
        ratio = s / r if r else float("inf")
        rows.append({"figure": name, "real": r, "simulated": s, "ratio": ratio, "within": abs(ratio - 1) <= tolerance})
    return rows


def format_comparison(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'figure':<26}{'real':>10}{'simulated':>11}{'ratio':>8}  within ±{TOLERANCE:.0%}"]
    for r in rows:
        lines.append(
            f"{r['figure']:<26}{r['real']:>10.3f}{r['simulated']:>11.3f}{r['ratio']:>8.2f}  "
            f"{'yes' if r['within'] else 'NO'}"
        )
    return "\n".join(lines)
