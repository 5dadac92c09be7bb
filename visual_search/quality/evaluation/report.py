"""A self-contained HTML report of an ``Evaluation``: tables, plots and sample queries, images inlined."""

from __future__ import annotations

import base64
import html
import io
import random
from pathlib import Path

from PIL import Image, ImageOps

from visual_search.quality.evaluation.run import CURVE_K, Evaluation

__all__ = ["plot_curves", "write_report"]

THUMB = 120
SAMPLES = 8
SHOWN = 5


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _thumbnail(path: Path) -> str:
    with Image.open(path) as image:
        thumb = ImageOps.fit(ImageOps.exif_transpose(image).convert("RGB"), (THUMB, THUMB))
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def plot_curves(result: Evaluation) -> bytes:
    """One PNG: Recall@K per run (left) and the interpolated precision-recall curves (right)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")  # no display: render to memory only
    from matplotlib import pyplot as plt  # noqa: PLC0415

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
    colours = {}
    for run in result.runs:  # one colour per encoder; live dashed over exhaustive solid
        colour = colours.setdefault(run.encoder.id, f"C{len(colours)}")
        style = {"color": colour, "linestyle": "-" if run.path == "exhaustive" else "--",
                 "marker": "." if run.path == "exhaustive" else "x", "label": f"{run.encoder.id} ({run.path})"}
        left.plot(range(1, len(run.recall_curve) + 1), run.recall_curve, **style)
        if run.pr_curve:
            right.plot(run.pr_curve["recall"], run.pr_curve["precision"], **style)
    left.set_xticks(range(1, CURVE_K + 1, 2))
    left.set(xlabel="K", ylabel="Recall@K (a hit in the top K)", title="Recall@K", ylim=(0, 1.01))
    right.set(xlabel="recall", ylabel="interpolated precision", title="Precision-recall (exhaustive ranking)",
              xlim=(0, 1), ylim=(0, 1.01))
    for axes in (left, right):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8, loc="lower left" if axes is right else "lower right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def plot_reliability(result: Evaluation) -> bytes | None:
    """One PNG: confidence (calibrated on the catalogue alone) against observed precision, per exhaustive run."""
    runs = [r for r in result.runs if r.calibration and r.path == "exhaustive"]
    if not runs:
        return None
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # noqa: PLC0415

    figure, axes = plt.subplots(figsize=(5.5, 4.6), dpi=100)
    axes.plot([0, 1], [0, 1], color="#888", linestyle=":", label="perfectly calibrated")
    for i, run in enumerate(runs):
        rows = run.calibration["reliability"]
        axes.plot([r["confidence"] for r in rows], [r["precision"] for r in rows], marker="o", color=f"C{i}",
                  label=f"{run.encoder.id} (ECE {run.calibration['expected_calibration_error']:.3f})")
    axes.set(xlabel="confidence of the best result", ylabel="observed precision (best result is a hit)",
             title="Reliability diagram", xlim=(0, 1), ylim=(0, 1.01))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def _calibration_table(result: Evaluation) -> str:
    rows = []
    for run in result.runs:
        c = run.calibration
        if not c:
            continue
        bins = " ".join(f"{r['low']:.1f}-{r['high']:.1f}: {r['confidence']:.2f}/{r['precision']:.2f} ({r['queries']})"
                        for r in c["reliability"])
        rows.append(f"<tr><th>{html.escape(run.encoder.id)}</th><td>{run.path}</td><td>{c['floor']:.3f}</td>"
                    f"<td>{100 * c['below_floor']:.1f}</td><td>{c['expected_calibration_error']:.3f}</td>"
                    f"<td><small>{html.escape(bins)}</small></td></tr>")
    return ("<table><tr><th>encoder</th><th>path</th><th>floor</th><th>queries under it (%)</th><th>ECE</th>"
            f"<th>bins: confidence / precision (queries)</th></tr>{''.join(rows)}</table>")


def _metrics_table(result: Evaluation) -> str:
    ks = result.configuration["ks"]
    top = max(ks)
    heads = [f"R@{k}" for k in ks] + [f"P@{top}", f"mAP@{top}", "suggestion accuracy", "suggestion macro F1",
                                      "query p50 (ms)", "plan"]
    rows = []
    for run in result.runs:
        m, s = run.metrics, run.suggestion
        values = [m[f"recall@{k}"] for k in ks] + [m[f"precision@{top}"], m[f"map@{top}"], s["accuracy"], s["macro"]["f1"]]
        cells = "".join(f"<td>{100 * v:.1f}</td>" for v in values)
        cells += f"<td>{run.timing.get('query_ms_p50', '')}</td><td>{html.escape(run.timing.get('plan', ''))}</td>"
        rows.append(f"<tr><th>{html.escape(run.encoder.id)} <small>({html.escape(run.role)})</small></th>"
                    f"<td>{run.path}</td>{cells}</tr>")
    head = "".join(f"<th>{h}</th>" for h in heads)
    return f"<table><tr><th>encoder</th><th>path</th>{head}</tr>{''.join(rows)}</table>"


def _label_table(result: Evaluation) -> str:
    runs = [r for r in result.runs if r.path == "exhaustive"] or result.runs
    head = "".join(f"<th colspan=3>{html.escape(r.encoder.id)} ({r.path})</th>" for r in runs)
    sub = "<th>P</th><th>R</th><th>F1</th>" * len(runs)
    rows = []
    for label in result.dataset.labels:
        support = runs[0].suggestion["per_label"][label]["support"]
        cells = "".join(
            "".join(f"<td>{100 * r.suggestion['per_label'][label][m]:.1f}</td>" for m in ("precision", "recall", "f1"))
            for r in runs
        )
        rows.append(f"<tr><th>{html.escape(label)}</th><td>{support}</td>{cells}</tr>")
    macro = "".join(
        "".join(f"<td><b>{100 * r.suggestion['macro'][m]:.1f}</b></td>" for m in ("precision", "recall", "f1"))
        for r in runs
    )
    rows.append(f"<tr><th>macro average</th><td></td>{macro}</tr>")
    return (f"<table><tr><th rowspan=2>label</th><th rowspan=2>queries</th>{head}</tr><tr>{sub}</tr>"
            f"{''.join(rows)}</table>")


def _samples(result: Evaluation, seed: int = 7) -> str:
    run = result.runs[0]
    data = result.dataset
    # Random queries, fixed seed: not picked for looking good.
    chosen = sorted(random.Random(seed).sample(range(len(data.queries)), min(SAMPLES, len(data.queries))))
    relevant = data.relevance(run.rankings[:, :SHOWN])
    first_photo = {}
    for row, product in enumerate(data.product_of):
        first_photo.setdefault(int(product), data.catalogue[row])
    blocks = []
    for q in chosen:
        query = data.queries[q]
        tiles = [(f'<figure class="query"><img src="{_thumbnail(query.path)}" alt=""><figcaption>query: '
                  f"{html.escape(query.label)}<br>suggested: {html.escape(str(run.predicted[q]))}</figcaption></figure>")]
        for rank, product in enumerate(run.rankings[q, :SHOWN]):
            if product < 0:
                continue
            photo = first_photo[int(product)]
            verdict = "right" if relevant[q, rank] else "wrong"
            tiles.append(f'<figure class="{verdict}"><img src="{_thumbnail(photo.path)}" alt=""><figcaption>'
                         f"{rank + 1}. {html.escape(photo.label)} {run.similarities[q, rank]:.2f} {'✓' if verdict == 'right' else '✗'}"
                         "</figcaption></figure>")
        blocks.append(f'<div class="row">{"".join(tiles)}</div>')
    return (f"<p>{len(chosen)} random queries (seed {seed}) and their top {SHOWN} from "
            f"{html.escape(run.encoder.id)} ({run.path}); green = a hit, red = a miss.</p>" + "".join(blocks))


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}
.row{display:flex;gap:8px;margin:8px 0}figure{margin:0;width:126px;font-size:11px;text-align:center}
figure img{border:3px solid #888;width:120px;height:120px}.query img{border-color:#3b6fd1}
.right img{border-color:#2e9e44}.wrong img{border-color:#d13b3b}pre{background:#f6f6f6;padding:1em;font-size:12px}"""


def write_report(result: Evaluation, folder: str | Path) -> Path:
    """Write ``index.html`` (every image inlined) and ``curves.png`` into ``folder``; return the HTML's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    curves = plot_curves(result)
    (folder / "curves.png").write_bytes(curves)
    diagram = plot_reliability(result)
    if diagram:
        (folder / "reliability.png").write_bytes(diagram)
    chance = result.as_dict()["random_ranking"]
    ks = result.configuration["ks"]
    data = result.dataset
    summary = (f"{html.escape(data.name)} ({html.escape(data.layout)}): {len(data.queries)} queries, "
               f"{len(data.catalogue)} catalogue photos in {len(data.products)} products, "
               f"{len(data.labels)} labels; relevance = {html.escape(result.configuration['relevance'])}.")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Visual search evaluation: {html.escape(data.name)}</title>
<style>{STYLE}</style></head><body>
<h1>Visual search evaluation: {html.escape(data.name)}</h1><p>{summary}</p>
<h2>Retrieval</h2>{_metrics_table(result)}
<p>R@K: share of queries with a hit in the top K. P@K: share of hits in the top K. mAP@K: average precision over
the top K. Category suggestion: similarity-weighted vote of the top {result.configuration['vote_neighbours']}
neighbours; majority-label baseline accuracy {100 * result.runs[0].suggestion['majority_accuracy']:.1f}.
A ranking drawn at random would score {", ".join(f"R@{k} {100 * chance[f'recall@{k}']:.1f}" for k in ks)} on average.</p>
<img src="{_data_uri(curves)}" alt="Recall@K and precision-recall curves" width="1100">
<h2>Confidence</h2>
<p>The confidence a shop would show, calibrated on the catalogue alone (<code>visual_search_calibrate</code>'s fit,
categories = labels, no queries), against whether each query's best result is a hit. ECE: expected calibration
error over ten confidence bins.</p>{_calibration_table(result)}
{f'<img src="{_data_uri(diagram)}" alt="Reliability diagram" width="550">' if diagram else ""}
<h2>Sample queries</h2>{_samples(result)}
<h2>Category suggestion per label</h2>{_label_table(result)}
<h2>Configuration</h2><pre>{html.escape(_configuration_text(result))}</pre>
</body></html>"""
    path = folder / "index.html"
    path.write_text(page)
    return path


def _configuration_text(result: Evaluation) -> str:
    import json  # noqa: PLC0415

    return json.dumps(result.configuration, indent=2, default=str)
