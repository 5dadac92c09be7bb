"""Every file of the hostile corpus, sent to the search page and to the API: exact status and code, no 500.

The real encoder runs for every accepted file; the catalogue is empty, so a
200 carries no results, which is all these tests need (test_unusual.py checks
that accepted files are understood correctly).
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.hostile.conftest import API_URL, PAGE_URL, api_error_code, page_error_code

pytestmark = pytest.mark.django_db

NO_THROTTLES = {"PAGE_THROTTLE_RATES": {}, "API_THROTTLE_RATES": {}}


@pytest.fixture
def upload_settings(settings, tmp_path):
    """No throttles (this is about files, not rates) and a spool folder that must stay empty."""
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, **NO_THROTTLES}
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "spool")
    (tmp_path / "spool").mkdir()
    return tmp_path / "spool"


def _upload(case):
    return SimpleUploadedFile(case.filename, case.data, content_type=case.content_type)


def test_corpus_is_big_and_varied(corpus):
    assert len(corpus) >= 25
    assert len({case.code for case in corpus}) >= 7
    assert sum(case.code is None for case in corpus) >= 10  # the unusual-but-valid ones


def test_every_file_gets_its_status_and_code_on_both_surfaces(
    corpus, client, api_client, upload_settings, settings
):
    media_before = sorted(p.name for p in __import__("pathlib").Path(settings.MEDIA_ROOT).rglob("*"))
    table, wrong = [], []
    for case in corpus:
        page = client.post(PAGE_URL, {"image": _upload(case)})
        api = api_client.post(API_URL, {"image": _upload(case)})
        got = ((page.status_code, page_error_code(page)), (api.status_code, api_error_code(api)))
        table.append(f"{case.name:28} {case.status} {case.code!s:22} page={got[0]} api={got[1]}")
        if got != ((case.status, case.code), (case.status, case.code)):
            wrong.append(table[-1])
    print("\n".join(table))
    assert not wrong, "\n".join(wrong)
    # Query photos are neither kept in media storage nor spooled to temporary files.
    assert sorted(p.name for p in __import__("pathlib").Path(settings.MEDIA_ROOT).rglob("*")) == media_before
    assert list(upload_settings.iterdir()) == []


@pytest.mark.parametrize("url, read_code", [(PAGE_URL, page_error_code), (API_URL, api_error_code)])
def test_bodies_over_the_cap_are_refused_unread(
    url, read_code, client, api_client, upload_settings, settings
):
    """Content-Length over the cap: 413 before a byte of the body is parsed (nothing spooled)."""
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "MAX_IMAGE_BYTES": 100_000}
    caller = api_client if url == API_URL else client
    body = SimpleUploadedFile("big.jpg", b"\xff\xd8" + b"\0" * 300_000, content_type="image/jpeg")
    response = caller.post(url, {"image": body})
    assert (response.status_code, read_code(response)) == (413, "too_large")
    assert list(upload_settings.iterdir()) == []


@pytest.mark.parametrize("url, read_code", [(PAGE_URL, page_error_code), (API_URL, api_error_code)])
def test_files_just_over_the_cap_are_cut_off_in_memory(
    url, read_code, client, api_client, upload_settings, settings
):
    """Within the multipart allowance but over the image cap: held to cap + 1 byte, refused as too large."""
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "MAX_IMAGE_BYTES": 100_000}
    caller = api_client if url == API_URL else client
    body = SimpleUploadedFile("big.jpg", b"\xff\xd8" + b"\0" * 120_000, content_type="image/jpeg")
    response = caller.post(url, {"image": body})
    assert (response.status_code, read_code(response)) == (413, "too_large")
    assert list(upload_settings.iterdir()) == []
