"""The demo catalogue through the API with no threshold set by hand: confidence calibrated on the catalogue alone.

The catalogue is the demo's 240 photos with the encoder the demo serves; calibration sees only them.
Queries it never saw: a held-out slice of clothing-small's test split (classes the shop sells) and
scikit-image's photos (things it does not sell). Skipped where the dataset folder is absent.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from shop.catalogue import import_demo_photos
from shop.models import Product
from tests.api_clients import api_client, api_key, fresh_throttles  # noqa: F401
from tests.conftest import ROOT
from visual_search.indexing.bulk import reembed_in_process
from visual_search.quality.calibration import calibrate

DATASET = Path(ROOT.parent / "shared" / "datasets" / "clothing-small")
#: Every SLICE-th photo of the test split: 62 of 372, every class.
SLICE = 1
OFF_CATALOGUE = (
    "chelsea", "coffee", "rocket", "astronaut", "camera", "horse", "moon", "coins", "clock", "brick", "grass",
    "gravel", "hubble_deep_field", "immunohistochemistry", "colorwheel", "page", "text", "logo", "retina",
)
#: What this test holds the calibration to, with room for a few photos of numeric drift on another machine
#: (docs/evaluation.md: on this slice 11 of 62 held-out photos told "no close match", 18 of 19 off-catalogue
#: photos flagged). The issue's goal is at most 5% missed and at least 90% flagged; the first is not reached.
MAX_MISSED = 0.05
MIN_FLAGGED = 0.9

pytestmark = [pytest.mark.django_db, pytest.mark.skipif(not (DATASET / "test").is_dir(), reason=f"{DATASET} absent")]


@pytest.fixture
def demo_catalogue(settings, tmp_path):
    from tests.settings import DEMO_ENCODER  # noqa: PLC0415

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "ENCODER": DEMO_ENCODER, "AUTO_EMBED": False,
                              "API_THROTTLE_CLASSES": [], "API_UPLOAD_THROTTLE_CLASSES": []}
    from visual_search.encoders import get_encoder  # noqa: PLC0415

    import_demo_photos()
    assert reembed_in_process(Product.objects.values_list("pk", flat=True)).failed == 0
    return calibrate(get_encoder())


def _post(client, data: bytes) -> dict:
    response = client.post("/api/v1/search/image/", {"image": SimpleUploadedFile("q.jpg", data, "image/jpeg")})
    assert response.status_code == 200, response.content
    body = response.json()
    confidences = [r["confidence"] for r in body["results"]]
    assert all(0.0 <= c <= 1.0 for c in confidences) and confidences == sorted(confidences, reverse=True)
    assert body["calibrated"] is True and body["confidence"] == confidences[0]
    return body


def test_held_out_photos_match_and_things_not_sold_are_flagged(api_client, demo_catalogue):
    assert demo_catalogue.products == 240 and demo_catalogue.categories == 10
    held_out = sorted((DATASET / "test").glob("*/*.jpg"))[::SLICE]
    missed = [p.name for p in held_out if not _post(api_client, p.read_bytes())["close_match"]]
    flagged = []
    from skimage import data  # noqa: PLC0415

    for name in OFF_CATALOGUE:
        buffer = io.BytesIO()
        Image.fromarray(getattr(data, name)()).convert("RGB").save(buffer, format="JPEG", quality=90)
        body = _post(api_client, buffer.getvalue())
        if not body["close_match"]:
            flagged.append(name)
            assert body["verdict"] in ("closest", "not_sold")
    missed_share, flagged_share = len(missed) / len(held_out), len(flagged) / len(OFF_CATALOGUE)
    print(f"\nfloor {demo_catalogue.floor:.3f}: {len(missed)} of {len(held_out)} held-out photos told 'no close match' "
          f"({missed_share:.3f}); {len(flagged)} of {len(OFF_CATALOGUE)} off-catalogue photos flagged ({flagged_share:.3f})")
    assert missed_share <= MAX_MISSED, missed
    assert flagged_share >= MIN_FLAGGED, sorted(set(OFF_CATALOGUE) - set(flagged))
