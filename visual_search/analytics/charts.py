"""Charts drawn on the server as SVG shapes: no script, no inline style, so a strict CSP lets them through.

Each function returns the geometry a template turns into ``<rect>``, ``<polyline>``
and ``<text>`` elements (``visual_search_analytics/chart.html``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 640, 200
LEFT, BOTTOM, TOP = 44, 24, 12


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
    empty: bool = False


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
