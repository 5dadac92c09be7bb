"""The README and the docs site stay short, complete and in step with the code."""

from pathlib import Path

import yaml

from visual_search.conf import DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _nav_pages(nav) -> set[str]:
    pages = set()
    for entry in nav:
        for value in entry.values() if isinstance(entry, dict) else [entry]:
            pages |= _nav_pages(value) if isinstance(value, list) else {value}
    return pages


def test_readme_is_short_and_has_both_commands():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 12_000
    assert "make demo" in readme
    assert "make test" in readme


def test_benchmarks_page_holds_the_current_run_only():
    assert len((DOCS / "benchmarks.md").read_bytes()) <= 25_000


def test_every_setting_is_in_the_settings_reference():
    reference = (DOCS / "settings.md").read_text()
    missing = [key for key in DEFAULTS if f"`{key}`" not in reference]
    assert not missing, f"docs/settings.md does not document {missing}"


def test_every_page_is_in_the_nav():
    # mkdocs.yml names a Python function for Mermaid fences; only the nav is read here.
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_IgnoreTagsLoader)
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages, "no pages found under docs/"
    assert pages - _nav_pages(config["nav"]) == set()


class _IgnoreTagsLoader(yaml.SafeLoader):
    pass


_IgnoreTagsLoader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)
