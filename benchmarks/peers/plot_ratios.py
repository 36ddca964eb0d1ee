"""Plots the peer/Swift time ratios of a benchmarks/peers/run output as an SVG bar chart.

Reads every Markdown table row with a ratio cell such as "| 1.23× |": the last column
in benchmark-sde's tables, the fourth in benchmark-foundation's. Draws one horizontal bar
per row on a logarithmic axis with a line at 1. A bar right of the line is a row slower
than the Swift reference of its table.

usage: python plot_ratios.py RESULTS.md OUTPUT.svg
"""
import re
import sys

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402

RATIO = re.compile(r"^\s*([0-9.]+)×")


def read_ratios(path):
    """Returns (label, ratio) for every table row with a ratio, in file order."""
    rows = []
    section = ""
    for line in open(path, encoding="utf-8"):
        if line.startswith("## "):
            section = line[3:].split()[0]
        if not line.startswith("|") or line.startswith("| ---"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        for cell in reversed(cells):
            match = RATIO.match(cell)
            if match:
                rows.append((f"{section}: {cells[0]}", float(match.group(1))))
                break
    return rows


def main():
    rows = read_ratios(sys.argv[1])
    if not rows:
        sys.exit(f"plot_ratios: no rows with a ratio in {sys.argv[1]}")
    figure, axes = plt.subplots(figsize=(10, 0.35 * len(rows) + 1.5))
    labels = [label for label, _ in rows]
    ratios = [ratio for _, ratio in rows]
    axes.barh(range(len(rows)), ratios, color=["#d62728" if r < 1 else "#1f77b4" for r in ratios])
    axes.set_yticks(range(len(rows)), labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.axvline(1, color="black", linewidth=1)
    axes.set_xlabel("time / Swift reference time of its table (above 1: Swift faster)")
    axes.set_title("Peers side by side with the Swift library")
    figure.tight_layout()
    figure.savefig(sys.argv[2])


if __name__ == "__main__":
    main()
