"""Retrieval quality on clothing-small: a thin caller of ``manage.py visual_search_evaluate``.

Test photos are the queries, train + validation the catalogue; every encoder
is ranked exhaustively and through pgvector in a scratch database (``--live``),
with the colour-histogram and zero-shot baselines. Extra arguments are passed
on, e.g. ``--encoder visual_search.encoders.adapted.AdaptedEncoder:{"head": "..."}``.

    .venv/bin/python benchmarks/retrieval.py --json /tmp/retrieval.json --report /tmp/retrieval-report
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "clothing-small"


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django  # noqa: PLC0415
    from django.core.management import call_command  # noqa: PLC0415

    django.setup()
    dataset = argv[0] if argv and not argv[0].startswith("-") else str(DEFAULT_DATASET)
    rest = argv[1:] if argv and not argv[0].startswith("-") else argv
    call_command("visual_search_evaluate", dataset, "--live", "--cache-dir", str(ROOT / ".data" / "eval-cache"), *rest)


if __name__ == "__main__":
    main(sys.argv[1:])
