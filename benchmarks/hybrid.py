"""Words alone, the photo alone, and both fused, on the demo catalogue: "this photo, but in red".

Usage: ``.venv/bin/python benchmarks/hybrid.py [--seeded 16] [--json PATH]``

The first ``--seeded`` photos of each demo category become the catalogue (embedded with the
demo's encoder, as ``make demo`` serves it); every other demo photo whose title starts with a
colour is a query: its photo, and the colour as the only word. A result is relevant when it is of
the photo's category and its title has that colour, as a shopper asking for "this, in navy" would
judge: the photo alone finds the kind of thing in any colour, the word alone that colour in any
kind of thing. Reported per method: hit@1, hit@5 (a relevant product in the top 1 / 5) and MRR@10.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

DATABASE = "visual_search_bench_hybrid"
COLOURS = {"black", "navy", "blue", "red", "grey", "white", "pink", "cream", "burgundy", "charcoal", "green",
           "teal", "olive", "yellow", "purple", "orange", "brown", "beige", "khaki", "stone", "taupe", "sage"}
K = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeded", type=int, default=16, help="Demo photos per category in the catalogue.")
    parser.add_argument("--json", type=Path, dest="json_path")
    args = parser.parse_args()

    from benchmarks.search_latency import setup_django  # noqa: PLC0415

    setup_django(DATABASE, settings_module="config.settings")
    from django.db import connection  # noqa: PLC0415

    from shop.catalogue import DEMO_PHOTOS, import_demo_photos  # noqa: PLC0415
    from shop.models import Product  # noqa: PLC0415
    from visual_search.indexing.bulk import reembed_in_process  # noqa: PLC0415
    from visual_search.search.service import search_by_image  # noqa: PLC0415
    from visual_search.search.text import search_by_image_and_text, search_by_text  # noqa: PLC0415

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE visual_search_productimageembedding, shop_productimage, shop_product, "
                       "shop_category RESTART IDENTITY CASCADE")
    import_demo_photos(per_category=args.seeded)
    reembed_in_process(list(Product.objects.values_list("pk", flat=True)))
    catalogue = {p.pk: p for p in Product.objects.select_related("category")}

    with (DEMO_PHOTOS / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    seen: dict[str, int] = {}
    queries = []
    for row in rows:
        seen[row["category"]] = seen.get(row["category"], 0) + 1
        colour = row["title"].split()[0].lower()
        if seen[row["category"]] > args.seeded and colour in COLOURS:
            relevant = {pk for pk, p in catalogue.items()
                        if p.category.name == row["category"] and colour in p.name.lower().split()}
            if relevant:
                queries.append((DEMO_PHOTOS / row["file"], colour, relevant))

    def score(rankings) -> dict[str, float]:
        hit1 = hit5 = mrr = 0.0
        for ranked, (_, _, relevant) in zip(rankings, queries, strict=True):
            ranks = [i for i, pk in enumerate(ranked[:K], 1) if pk in relevant]
            hit1 += bool(ranks and ranks[0] == 1)
            hit5 += bool(ranks and ranks[0] <= 5)
            mrr += 1.0 / ranks[0] if ranks else 0.0
        n = len(queries)
        return {"hit@1": 100 * hit1 / n, "hit@5": 100 * hit5 / n, "mrr@10": mrr / n}

    methods = {
        "photo only": lambda path, words: search_by_image(path.read_bytes(), K),
        "words only": lambda path, words: search_by_text(words, K),
        "photo + words (fused)": lambda path, words: search_by_image_and_text(path.read_bytes(), words, K),
    }
    figures = {"catalogue": len(catalogue), "queries": len(queries), "k": K, "methods": {}}
    print(f"{len(catalogue)} demo products; {len(queries)} held-out photos with a colour in their title")
    print("| method | hit@1 | hit@5 | MRR@10 |\n|---|---:|---:|---:|")
    for name, run in methods.items():
        rankings = [[r.product.pk for r in run(path, words)] for path, words, _ in queries]
        figures["methods"][name] = result = score(rankings)
        print(f"| {name} | {result['hit@1']:.1f} | {result['hit@5']:.1f} | {result['mrr@10']:.3f} |")
    if args.json_path:
        args.json_path.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
