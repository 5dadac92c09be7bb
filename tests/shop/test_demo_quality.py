"""Search quality of the committed demo catalogue, with the real encoder.

Queries are clothing-small's held-out test split (the demo photos come from its
train and validation splits only); each query's top 12 is scored by how many
results share its class. Skipped where the dataset folder is absent.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from shop.catalogue import import_demo_photos
from shop.models import Product
from tests.conftest import ROOT
from visual_search.bulk import reembed_in_process
from visual_search.search import search_by_image

DATASET = Path(ROOT.parent / "shared" / "datasets" / "clothing-small")
TOP = 12
#: clothing-small folder -> the shop category the demo manifest files it under.
CATEGORY = {
    "dress": "Dresses", "hat": "Hats", "longsleeve": "Long sleeves", "outwear": "Outerwear", "pants": "Pants",
    "shirt": "Shirts", "shoes": "Shoes", "shorts": "Shorts", "skirt": "Skirts", "t-shirt": "T-shirts",
}  # fmt: skip

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not (DATASET / "test").is_dir(), reason=f"{DATASET} is not here"),
]


def test_test_split_photos_find_their_class_in_the_demo_catalogue():
    import_demo_photos()
    result = reembed_in_process(Product.objects.values_list("pk", flat=True))
    assert result.failed == 0
    assert Product.objects.count() == 240

    precision: dict[str, list[float]] = defaultdict(list)
    for path in sorted((DATASET / "test").glob("*/*.jpg")):
        with path.open("rb") as fh:
            results = search_by_image(fh, k=TOP)
        assert len(results) == TOP
        hits = sum(r.product.category.name == CATEGORY[path.parent.name] for r in results)
        precision[path.parent.name].append(hits / TOP)

    per_class = {name: sum(values) / len(values) for name, values in sorted(precision.items())}
    mean = sum(per_class.values()) / len(per_class)
    print(f"\nPrecision@{TOP} per class over {sum(map(len, precision.values()))} test photos:")
    for name, value in per_class.items():
        print(f"  {name:<11} {value:.3f} ({value * TOP:.1f} of {TOP}, {len(precision[name])} queries)")
    print(f"  mean over classes {mean:.3f} ({mean * TOP:.1f} of {TOP})")
    assert set(per_class) == set(CATEGORY)
    assert mean * TOP >= 8
