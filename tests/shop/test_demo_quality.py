"""Search quality of the committed demo catalogue, with the encoder the demo serves.

The demo serves EfficientNet-Lite0 plus a head fitted on clothing-small's train
and validation splits (``shop/encoder/``). Queries are clothing-small's held-out
test split (neither the demo photos nor the head ever saw it); each query's top
12 is scored by how many results share its class. Skipped where the dataset
folder is absent.
"""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import Image

from shop.catalogue import import_demo_photos
from shop.models import Product
from tests.conftest import ROOT, photo_bytes
from visual_search.indexing.bulk import reembed_in_process
from visual_search.search.results import build_result_page
from visual_search.search.service import search_by_image

DATASET = Path(ROOT.parent / "shared" / "datasets" / "clothing-small")
DEMO_PHOTOS = ROOT / "shop" / "demo_photos"
TOP = 12
#: Every class's average (not only the mean over classes): at least this many of the top 12 in its class.
PER_CLASS = 8
#: clothing-small folder -> the shop category the demo manifest files it under.
CATEGORY = {
    "dress": "Dresses", "hat": "Hats", "longsleeve": "Long sleeves", "outwear": "Outerwear", "pants": "Pants",
    "shirt": "Shirts", "shoes": "Shoes", "shorts": "Shorts", "skirt": "Skirts", "t-shirt": "T-shirts",
}  # fmt: skip

pytestmark = pytest.mark.django_db


def seed_demo_catalogue() -> None:
    import_demo_photos()
    result = reembed_in_process(Product.objects.values_list("pk", flat=True))
    assert result.failed == 0
    assert Product.objects.count() == 240


@pytest.mark.skipif(not (DATASET / "test").is_dir(), reason=f"{DATASET} is not here")
def test_test_split_photos_find_their_class_in_the_demo_catalogue(demo_encoder):
    seed_demo_catalogue()
    precision: dict[str, list[float]] = defaultdict(list)
    for path in sorted((DATASET / "test").glob("*/*.jpg")):
        with path.open("rb") as fh:
            results = search_by_image(fh, k=TOP)
        assert len(results) == TOP
        hits = sum(r.product.category.name == CATEGORY[path.parent.name] for r in results)
        precision[path.parent.name].append(hits / TOP)

    per_class = {name: sum(values) / len(values) for name, values in sorted(precision.items())}
    mean = sum(per_class.values()) / len(per_class)
    queries = sum(map(len, precision.values()))
    print(f"\nPrecision@{TOP} per class over {queries} test photos ({demo_encoder!r}):")
    for name, value in per_class.items():
        print(f"  {name:<11} {value:.3f} ({value * TOP:.1f} of {TOP}, {len(precision[name])} queries)")
    print(f"  mean over classes {mean:.3f} ({mean * TOP:.1f} of {TOP})")
    assert set(per_class) == set(CATEGORY)
    below = {name: round(value * TOP, 2) for name, value in per_class.items() if value * TOP < PER_CLASS}
    assert not below, f"classes under {PER_CLASS} of {TOP}: {below}"


def test_the_demo_encoder_keeps_copies_close_and_other_things_not(demo_encoder):
    """Its own floor on the whole demo catalogue: a shopper's copy of a product matches, a cat does not."""
    seed_demo_catalogue()
    path = sorted((DEMO_PHOTOS / "outwear").glob("*.jpg"))[3]
    photo = Image.open(path).convert("RGB")
    w, h = photo.size
    buffer = io.BytesIO()
    photo.crop((w // 10, h // 10, w - w // 10, h - h // 10)).resize((w * 2 // 3, h * 2 // 3)).save(
        buffer, format="JPEG", quality=60
    )
    page = build_result_page(search_by_image(buffer.getvalue(), k=3))
    assert page.floor == demo_encoder.similarity_floor
    assert page.close_match and page.items[0].product.slug == f"demo-outwear-{path.stem}", page.items[0]
    for name in ("chelsea", "coffee", "rocket"):
        page = build_result_page(search_by_image(photo_bytes(name), k=3))
        assert len(page) == 3 and not page.close_match, (name, page.items[0].score)
