"""The package's shape: layers without import circles, a short root, old paths that still import."""

from __future__ import annotations

import ast
import importlib
import sys
import warnings
from pathlib import Path

import pytest

import visual_search
from visual_search import _moved

PACKAGE = Path(visual_search.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every import of a package module by another, wherever it stands (functions and TYPE_CHECKING too)."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}

    def resolve(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {resolve(a.name) for a in node.names if a.name.startswith("visual_search")}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = module.split(".")[: -node.level + (path.name == "__init__.py") or None]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                if base.startswith("visual_search"):
                    deps |= {f"{base}.{a.name}" if f"{base}.{a.name}" in paths else resolve(base) for a in node.names}
        graph[module] = deps - {None, module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_hidden_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_among_the_package_modules_lazy_imports_included():
    graph = import_graph()
    assert "visual_search.search.service" in graph["visual_search.search.results"]  # the graph sees imports
    assert cycles(graph) == []


def test_layers_point_one_way():
    """Lower layers never import higher ones (the core at the root, then encoders, indexing, search, ...)."""
    order = ["encoders", "indexing", "search", "quality", "analytics", "web", "api", "templatetags", "contrib"]
    core = {"visual_search.conf", "visual_search.models", "visual_search.images", "visual_search.filters",
            "visual_search.adapters", "visual_search.timeouts"}

    def layer(module: str) -> int:
        if module in core:
            return -1
        part = module.split(".")[1] if module.count(".") else ""
        return order.index(part) if part in order else len(order)  # entry points and commands sit on top

    upward = [(m, d) for m, deps in import_graph().items() for d in deps if layer(d) > layer(m)]
    assert upward == []


def test_at_most_fourteen_modules_at_the_package_root():
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root) <= 14, root


@pytest.mark.parametrize("old", sorted(_moved.MOVED))
def test_an_old_module_path_still_imports_the_same_module_with_a_warning(old):
    new = _moved.MOVED[old]
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught)


def test_public_paths_a_host_names_import_without_warnings():
    """Settings, URL includes, template tags and Celery tasks name these; they never moved."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        from visual_search.adapters import ImageFieldAdapter, ProductAdapter  # noqa: F401
        from visual_search.encoders.efficientnet_lite import EfficientNetLiteEncoder  # noqa: F401
        from visual_search.search import search_by_image, similar_products  # noqa: F401
        for module in ("visual_search.urls", "visual_search.api.urls", "visual_search.templatetags.visual_search",
                       "visual_search.tasks", "visual_search.admin"):
            importlib.import_module(module)
    from celery import current_app

    assert {"visual_search.embed_products", "visual_search.drain", "visual_search.sweep"} <= set(current_app.tasks)


def test_a_host_naming_the_old_middleware_path_gets_the_guard_and_no_warning(settings):
    """A host's settings from before 0.2 name visual_search.uploads.UploadGuardMiddleware: it still works."""
    from django.core.checks import run_checks  # noqa: PLC0415
    from django.utils.module_loading import import_string  # noqa: PLC0415

    from visual_search.search.uploads import UploadGuardMiddleware  # noqa: PLC0415

    old, new = "visual_search.uploads.UploadGuardMiddleware", "visual_search.search.uploads.UploadGuardMiddleware"
    settings.MIDDLEWARE = [old if m == new else m for m in settings.MIDDLEWARE]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert import_string(old) is UploadGuardMiddleware  # what Django loads for that entry
        assert "visual_search.W006" not in {m.id for m in run_checks(tags=["security"])}
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != old]
    assert "visual_search.W006" in {m.id for m in run_checks(tags=["security"])}  # the check does look
