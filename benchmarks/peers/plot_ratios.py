"""Plots the peer/Swift time ratios of a benchmarks/peers/run output as an SVG bar chart.

Reads every ratio cell such as "| 1.23× |" of the Markdown tables: the last column in
benchmark-sde's tables, and the PyTorch / Swift and JAX / Swift columns in
benchmark-foundation's. Draws one horizontal bar per ratio on a logarithmic axis with a
line at 1, labelled with its row and, in a table with several ratio columns, its column's
header. A bar right of the line is a peer slower than the Swift reference of its table.

usage: python plot_ratios.py RESULTS.md OUTPUT.svg
"""
import re
import sys

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402

RATIO = re.compile(r"^\s*([0-9.]+)×")


def table_cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def read_ratios(path):
    """Returns (label, ratio) for every ratio cell of the tables, in file order."""
    rows = []
    section = ""
    header = []
    previous = ""
    for line in open(path, encoding="utf-8"):
        if line.startswith("## "):
            section = line[3:].split()[0]
        if line.startswith("| ---"):
            header = table_cells(previous)
        previous = line
        if not line.startswith("|") or line.startswith("| ---"):
            continue
        cells = table_cells(line)
        ratios = [(index, float(match.group(1))) for index, match in enumerate(map(RATIO.match, cells)) if match]
        # A table with several ratio columns, such as "PyTorch / Swift" and "JAX / Swift",
        # names the column in each label.
        several = sum("/" in cell for cell in header) > 1
        for index, ratio in ratios:
            label = f"{section}: {cells[0]}"
            if several and index < len(header):
                label += f" ({header[index]})"
            rows.append((label, ratio))
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
