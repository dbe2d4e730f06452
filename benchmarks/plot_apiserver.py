"""Plot the samples `benchmarks/apiserver.py` wrote: docs/img/apiserver.png.

    .venv/bin/pip install matplotlib     # for this script only; not a project dependency
    .venv/bin/python benchmarks/plot_apiserver.py [benchmarks/results/apiserver-full.json]

Four panels: throughput beside the bare store (log scale, every run as a dot, the aims
as marks), list latency, the server's resident memory through the run, and the CPU the
server and the clients used in each phase (to show which side was the limit).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
API_COLOR, STORE_COLOR, CLIENT_COLOR = "#1f6fb4", "#9aa5b1", "#f0a030"
SHORT = {"pod_creates": "pod\ncreates/s", "cm_creates": "ConfigMap\ncreates/s",
         "pod_gets": "pod\ngets/s", "watch_events": "watch\nevents/s",
         "list_full": "full list", "list_paged": "limit=500\npages"}
AIMS = {"pod_creates": 1000.0, "watch_events": 50_000.0}
AIM_RSS_MB = 300.0


def bars(ax: Any, keys: list[str], figures: dict[str, Any], scale: float = 1.0,
         log: bool = False, label_fmt: str = "{:,.0f}") -> None:
    width = 0.38
    for offset, side, color, name in ((-width / 2, "api", API_COLOR, "API server (HTTPS)"),
                                      (width / 2, "store", STORE_COLOR, "bare SqliteStore")):
        medians = [figures[k][f"{side}_median"] * scale for k in keys]
        xs = [i + offset for i in range(len(keys))]
        ax.bar(xs, medians, width, color=color, label=name)
        for x, k in zip(xs, keys, strict=True):
            runs = [s["value"] * scale for s in figures[k][side]]
            ax.scatter([x] * len(runs), runs, s=8, color="black", zorder=3)
        for x, value in zip(xs, medians, strict=True):
            ax.annotate(label_fmt.format(value), (x, value), ha="center", va="bottom",
                        fontsize=7, xytext=(0, 2), textcoords="offset points")
    for i, k in enumerate(keys):
        top = max(figures[k]["api_median"], figures[k]["store_median"]) * scale
        ax.annotate(f"API cost {figures[k]['api_cost']:.1f}x", (i, top),
                    ha="center", va="bottom", fontsize=7, color="#a02020",
                    xytext=(0, 12), textcoords="offset points")
    ax.set_xticks(range(len(keys)), [SHORT.get(k, k) for k in keys], fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.margins(y=0.25)


def plot(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = result["figures"]
    mem = result["memory"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    fig.suptitle(
        f"kubeedge-py API server vs bare SqliteStore ({result['mode']} run, "
        f"{result['machine']['cores']} cores, {result['clients']} client processes x "
        f"{result['concurrency'] // result['clients']} connections, source "
        f"{result['info'].get('source', '?')}; bars are medians, dots are runs)", fontsize=10)

    ax = axes[0][0]
    keys = ["pod_creates", "cm_creates", "pod_gets", "watch_events"]
    bars(ax, keys, figures, log=True)
    for i, k in enumerate(keys):
        if k in AIMS:
            ax.hlines(AIMS[k], i - 0.45, i + 0.45, colors="#a02020", linestyles="dashed")
            ax.annotate(f"aim {AIMS[k]:,.0f}", (i - 0.45, AIMS[k]), fontsize=7,
                        color="#a02020", va="bottom")
    ax.set_title("throughput (log scale)", fontsize=9)
    ax.set_ylabel("operations or events per second")
    ax.legend(fontsize=7, loc="upper left")

    ax = axes[0][1]
    bars(ax, ["list_full", "list_paged"], figures, scale=1000.0)
    ax.set_title(f"latency of listing {mem['pods']:,} pods", fontsize=9)
    ax.set_ylabel("milliseconds (all pages)")

    ax = axes[1][0]
    timeline = dict(mem["server_rss_after"])
    if "server_fresh_rss" in mem:  # before any client connected
        timeline = {"fresh": mem["server_fresh_rss"], **timeline}
    names = [*timeline, "peak"]
    values = [v / MB for v in timeline.values()] + [mem["server_peak_rss"] / MB]
    ax.bar(range(len(values)), values, color=API_COLOR, label="API server process")
    ax.bar(len(values), mem["store_rss_with_pods"] / MB, color=STORE_COLOR,
           label=f"bare store process, {mem['pods']:,} pods")
    for x, v in enumerate([*values, mem["store_rss_with_pods"] / MB]):
        ax.annotate(f"{v:,.0f}", (x, v), ha="center", va="bottom", fontsize=7)
    ax.axhline(AIM_RSS_MB, color="#a02020", linestyle="dashed")
    ax.annotate(f"aim {AIM_RSS_MB:,.0f} MB", (-0.4, AIM_RSS_MB), fontsize=7, color="#a02020",
                va="bottom")
    special = {"fresh": "fresh", "start": "clients\nconnected", "peak": "peak"}
    labels = [special.get(n, "after\n" + n.replace("_", " ")) for n in names]
    ax.set_xticks(range(len(values) + 1), [*labels, "store"], fontsize=8)
    ax.set_title("resident memory", fontsize=9)
    ax.set_ylabel("MB")
    ax.legend(fontsize=7, loc="upper left")

    ax = axes[1][1]
    keys = list(figures)
    server = [figures[k]["server_cores"] for k in keys]
    client = [figures[k]["client_cores"] for k in keys]
    xs = range(len(keys))
    ax.bar([x - 0.2 for x in xs], server, 0.4, color=API_COLOR, label="API server")
    ax.bar([x + 0.2 for x in xs], client, 0.4, color=CLIENT_COLOR,
           label="client processes (sum)")
    ax.axhline(1.0, color="black", linewidth=0.6, linestyle="dotted")
    ax.set_xticks(list(xs), [SHORT.get(k, k) for k in keys], fontsize=7)
    ax.set_ylim(0, 2)
    ax.set_title("CPU used during the API runs (cores; a Python process tops out near 1)",
                 fontsize=9)
    ax.set_ylabel("cores")
    ax.legend(fontsize=7, loc="upper left")

    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, nargs="?",
                        default=REPO / "benchmarks/results/apiserver-full.json")
    parser.add_argument("-o", "--output", type=Path, default=REPO / "docs/img/apiserver.png")
    args = parser.parse_args()
    plot(json.loads(args.results.read_text()), args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
