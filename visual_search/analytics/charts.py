"""Charts drawn on the server as SVG shapes: no script, no inline style, so a strict CSP lets them through.

Each function returns the geometry a template turns into ``<rect>``, ``<polyline>``
and ``<text>`` elements (``visual_search_analytics/chart.html``): bars over days or
ranks (``stacked_bars``), lines (``lines``), or one bar per name (``horizontal_bars``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 640, 200
LEFT, BOTTOM, TOP = 44, 24, 12
#: A horizontal bar chart's row, and the room its names take at the left (30 characters of 12 px text).
ROW, NAME_WIDTH = 22, 200


@dataclass
class Chart:
    title: str
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[dict] = field(default_factory=list)  # x, y, w, h, css class, tooltip
    lines: list[dict] = field(default_factory=list)  # points "x,y x,y", css class, legend
    x_labels: list[dict] = field(default_factory=list)  # x, text
    y_ticks: list[dict] = field(default_factory=list)  # y, text
    legend: list[dict] = field(default_factory=list)  # name, css class (only where there is more than one series)
    texts: list[dict] = field(default_factory=list)  # x, y, text, anchor ("start" or "end"), css class
    left: int = LEFT  # where the plot starts: the value axis's labels, or the bars' names, sit left of it
    empty: bool = False
    empty_text: str = "No searches in this range."


def _scale(top_value: float) -> float:
    return top_value if top_value > 0 else 1.0


def _y_ticks(chart: Chart, top_value: float, unit: str) -> None:
    plot = chart.height - BOTTOM - TOP
    for fraction in (0.0, 0.5, 1.0):
        value = top_value * fraction
        text = f"{value:.0%}" if unit == "%" else f"{value:.0f}{unit}"
        chart.y_ticks.append({"y": round(chart.height - BOTTOM - fraction * plot, 1), "text": text})


def _x_labels(chart: Chart, labels: Sequence[str], slot: float) -> None:
    step = max(1, len(labels) // 8)  # at most about eight labels, whatever the range
    for i, label in enumerate(labels):
        if i % step == 0:
            chart.x_labels.append({"x": round(LEFT + slot * (i + 0.5), 1), "text": label})


def stacked_bars(title: str, labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[float]]],
                 unit: str = "") -> Chart:
    """Bars per label, the ``series`` (name, css class, values) stacked bottom up."""
    chart = Chart(title, empty=not labels)
    if not labels:
        return chart
    totals = [sum(values[i] for _, _, values in series) for i in range(len(labels))]
    top_value = _scale(max(totals))
    plot_h, slot = chart.height - BOTTOM - TOP, (chart.width - LEFT) / len(labels)
    for i, label in enumerate(labels):
        base = chart.height - BOTTOM
        for name, css, values in series:
            h = plot_h * values[i] / top_value
            chart.bars.append({"x": round(LEFT + slot * i + slot * 0.1, 1), "y": round(base - h, 1),
                               "w": round(slot * 0.8, 1), "h": round(h, 1), "css": css,
                               "tip": f"{label}: {values[i]:g}{unit} {name}"})
            base -= h
    _y_ticks(chart, top_value, unit)
    _x_labels(chart, labels, slot)
    if len(series) > 1:
        chart.legend = [{"name": name, "css": css} for name, css, _ in series]
    return chart


def lines(title: str, labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[float | None]]],
          unit: str = "") -> Chart:
    """One polyline per series (name, css class, values; None leaves a point out)."""
    chart = Chart(title, empty=not labels)
    if not labels:
        return chart
    top_value = _scale(max((v for _, _, values in series for v in values if v is not None), default=0))
    plot_h, slot = chart.height - BOTTOM - TOP, (chart.width - LEFT) / len(labels)
    for name, css, values in series:
        points = " ".join(
            f"{LEFT + slot * (i + 0.5):.1f},{chart.height - BOTTOM - plot_h * v / top_value:.1f}"
            for i, v in enumerate(values) if v is not None
        )
        chart.lines.append({"points": points, "css": css, "legend": name})
        chart.legend.append({"name": name, "css": css})
    _y_ticks(chart, top_value, unit)
    _x_labels(chart, labels, slot)
    return chart


def horizontal_bars(title: str, rows: Sequence[tuple[str, float]], css: str, *, unit: str = "",
                    empty_text: str = "No searches in this range.") -> Chart:
    """One bar per ``(name, value)`` row, in the order given: the name left of it, the value at its end."""
    height = TOP + ROW * len(rows) + TOP
    chart = Chart(title, height=height, left=NAME_WIDTH, empty=not rows, empty_text=empty_text)
    if not rows:
        return chart
    top_value = _scale(max(value for _, value in rows))
    plot_w = chart.width - NAME_WIDTH - 48  # room for the longest bar's value after it
    for i, (name, value) in enumerate(rows):
        middle, w = TOP + ROW * (i + 0.5), plot_w * value / top_value
        chart.bars.append({"x": NAME_WIDTH, "y": round(middle - ROW * 0.35, 1), "w": round(w, 1),
                           "h": round(ROW * 0.7, 1), "css": css, "tip": f"{name}: {value:g}{unit}"})
        chart.texts.append({"x": NAME_WIDTH - 6, "y": round(middle, 1), "text": name, "anchor": "end",
                            "css": "vs-chart__name"})
        chart.texts.append({"x": round(NAME_WIDTH + w + 4, 1), "y": round(middle, 1),
                            "text": f"{value:g}{unit}", "anchor": "start", "css": "vs-chart__tick"})
    return chart
