"""A client generated from /api/v1/schema/ (openapi-python-client) works against a live server as generated.

No hand edits: the test fetches the schema, generates the package in a temporary
folder, and a separate Python process imports it and makes the calls an
integrator would, with a key created by the management command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from tests.api_clients import create_key
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db(transaction=True)

PACKAGE = "visual_search_api_client"

#: What the integrator writes: list every product page by page, ask for similar ones, search by photo.
USE_THE_CLIENT = textwrap.dedent('''
    import json, sys
    from urllib.parse import parse_qs, urlparse

    from visual_search_api_client import AuthenticatedClient
    from visual_search_api_client.api.products import list_products, similar_products
    from visual_search_api_client.api.search import search_by_image
    from visual_search_api_client.models import ImageUploadRequest
    from visual_search_api_client.types import File

    base_url, key, photo = sys.argv[1:4]
    client = AuthenticatedClient(base_url=base_url, token=key)  # sends Authorization: Bearer <key>
    listed, cursor = [], None
    while True:
        page = list_products.sync(client=client, page_size=2, **({"cursor": cursor} if cursor else {}))
        listed += [{"id": p.id, "status": p.embedding_status.value} for p in page.results]
        if not page.next_:
            break
        cursor = parse_qs(urlparse(page.next_).query)["cursor"][0]
    similar = similar_products.sync(client=client, pk=listed[0]["id"], k=2, category="Long sleeves", min_confidence=0)
    with open(photo, "rb") as fh:
        body = ImageUploadRequest(image=File(payload=fh, file_name="photo.jpg", mime_type="image/jpeg"))
        found = search_by_image.sync(client=client, body=body, k=3)
    stranger = AuthenticatedClient(base_url=base_url, token="nope")
    refused = similar_products.sync_detailed(client=stranger, pk="1")
    print(json.dumps({
        "listed": listed,
        "similar": [r.title for r in similar.results],
        "found": [r.title for r in found.results],
        "close_match": found.close_match,
        "refused": [refused.status_code.value, refused.parsed.code],
    }))
''')


def run(command: list[str], cwd: Path) -> str:
    # The venv's bin first: the generator runs ruff on what it writes.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_a_generated_client_lists_calls_similar_and_searches_by_photo(live_server, catalogue, tmp_path):
    with urllib.request.urlopen(f"{live_server.url}/api/v1/schema/?format=json") as response:
        (tmp_path / "schema.json").write_bytes(response.read())
    generate = ["generate", "--path", "schema.json", "--meta", "none"]
    run([sys.executable, "-m", "openapi_python_client", *generate], cwd=tmp_path)
    assert (tmp_path / PACKAGE / "api" / "products" / "list_products.py").exists()
    (tmp_path / "use_it.py").write_text(USE_THE_CLIENT)
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(photo_bytes("chelsea"))

    key = create_key("generated")
    output = run([sys.executable, "use_it.py", live_server.url, key, str(photo)], cwd=tmp_path)

    result = json.loads(output)
    assert [p["id"] for p in result["listed"]] == sorted((str(p.pk) for p in catalogue.values()), key=int)
    statuses = {p["id"]: p["status"] for p in result["listed"]}
    assert statuses[str(catalogue["chelsea"].pk)] == "ready"
    assert statuses[str(catalogue["blank"].pk)] == "no_images"
    assert sorted(result["similar"]) == ["astronaut", "rocket"]  # the filter by category name went through
    assert len(result["found"]) == 3 and result["found"][0] == "chelsea"  # the same photo is found first
    assert result["refused"] == [401, "invalid_api_key"]
