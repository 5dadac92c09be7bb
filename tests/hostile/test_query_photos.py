"""Query photos are kept only when a setting says so: re-encoded, under server-chosen names, for N days."""

from __future__ import annotations

import datetime
import io
import re

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from tests.hostile.conftest import API_URL, PAGE_URL
from tests.hostile.make_corpus import build_corpus
from visual_search.search import query_photos

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "API_THROTTLE_RATES": {}, "PAGE_THROTTLE_RATES": {}}
    return tmp_path / "media"


def kept(media) -> list:
    return sorted(p for p in media.rglob("*") if p.is_file())


def test_nothing_is_kept_by_default(media, client, api_client):
    polyglot = next(case for case in build_corpus() if case.name == "jpeg_zip_polyglot")
    assert client.post(PAGE_URL, {"image": SimpleUploadedFile("a.jpg", polyglot.data)}).status_code == 200
    assert api_client.post(API_URL, {"image": SimpleUploadedFile("a.jpg", polyglot.data)}).status_code == 200
    assert kept(media) == []


def test_kept_photos_are_re_encoded_under_server_chosen_names(media, settings, client, api_client):
    from PIL import Image  # noqa: PLC0415

    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "QUERY_PHOTO_RETENTION_DAYS": 7}
    polyglot = next(case for case in build_corpus() if case.name == "jpeg_zip_polyglot")
    assert (
        client.post(PAGE_URL, {"image": SimpleUploadedFile("../../evil.php", polyglot.data)}).status_code
        == 200
    )
    assert api_client.post(API_URL, {"image": SimpleUploadedFile("x.svg", polyglot.data)}).status_code == 200
    files = kept(media)
    assert len(files) == 2
    today = timezone.now().date().isoformat()
    for path in files:
        relative = path.relative_to(media).as_posix()
        assert re.fullmatch(rf"visual_search/query-photos/{today}/[0-9a-f]{{32}}\.jpg", relative), relative
        data = path.read_bytes()
        assert b"PK\x05\x06" not in data  # the appended ZIP is gone: only decoded pixels were written
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "JPEG" and "exif" not in image.info
    # A refused upload is never kept.
    assert client.post(PAGE_URL, {"image": SimpleUploadedFile("a.png", b"<svg/>")}).status_code == 415
    assert len(kept(media)) == 2


def test_purge_deletes_days_past_the_retention(media, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "QUERY_PHOTO_RETENTION_DAYS": 7}
    today = datetime.date(2026, 11, 29)
    for day in ("2026-11-29", "2026-11-22", "2026-11-21", "2026-10-01"):
        default_storage.save(f"{query_photos.FOLDER}/{day}/a.jpg", io.BytesIO(b"x"))
    default_storage.save(f"{query_photos.FOLDER}/notes/readme.txt", io.BytesIO(b"x"))
    assert query_photos.purge(today) == 2
    left = sorted(p.parent.name for p in kept(media))
    assert left == ["2026-11-22", "2026-11-29", "notes"]


def test_purge_command_with_the_setting_unset_deletes_everything_kept(media):
    default_storage.save(f"{query_photos.FOLDER}/2026-11-29/a.jpg", io.BytesIO(b"x"))
    out = io.StringIO()
    call_command("visual_search_purge_query_photos", stdout=out)
    assert "Deleted 1 query photo;" in out.getvalue() and "not kept" in out.getvalue()
    assert kept(media) == []
