"""Evaluation sets: which photos are queries, which form the catalogue, and what counts as a hit.

Three layouts are read:

* a folder with split folders ``train/``, ``val/`` or ``validation/``, and ``test/`` (each one
  sub-folder per label): ``test`` photos are the queries, the other splits the catalogue; without
  ``test/``, the other splits are pooled leave-one-out;
* a folder with one sub-folder per label: every photo is a query against all the others
  (leave-one-out);

A label is the folder path under the root (or under its split): ``fruit/apple/golden`` for
``fruit/apple/golden/1.jpg``, or its first ``label_depth`` parts (``fruit/apple`` with 2). Split
folders beside label folders, and photos with no label folder, are refused as ambiguous.
* a CSV manifest with the columns ``path,label,split,product_id`` (``split`` is ``query`` or
  ``catalogue``; ``product_id`` may be empty; paths are relative to the CSV's folder).

A hit is a catalogue product with the query's ``product_id`` when the query has one, else
one with the query's label. Catalogue photos sharing a ``product_id`` are one product, as
a product with a gallery is in the app.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["EvaluationSet", "Sample", "load_evaluation_set"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
QUERY_SPLITS = ("test",)
CATALOGUE_SPLITS = ("train", "val", "validation")


@dataclass(frozen=True)
class Sample:
    """One photo, its label and (optionally) the product it shows."""

    path: Path
    label: str
    product_id: str = ""


@dataclass
class EvaluationSet:
    """Queries and catalogue photos; ``leave_one_out`` when both lists are the same photos."""

    name: str
    layout: str
    queries: list[Sample]
    catalogue: list[Sample]
    leave_one_out: bool = False
    products: list[str] = field(init=False)  # one entry per catalogue product, in first-seen order
    product_of: np.ndarray = field(init=False)  # catalogue photo -> index into ``products``

    def __post_init__(self) -> None:
        if not self.queries or not self.catalogue:
            raise ValueError(f"{self.name}: an evaluation needs at least one query and one catalogue photo.")
        keys = [s.product_id or f"photo:{i}" for i, s in enumerate(self.catalogue)]
        index: dict[str, int] = {}
        self.product_of = np.array([index.setdefault(k, len(index)) for k in keys], dtype=np.int64)
        self.products = list(index)

    @property
    def labels(self) -> list[str]:
        """Every label, sorted."""
        return sorted({s.label for s in self.queries} | {s.label for s in self.catalogue})

    def product_labels(self) -> list[str]:
        """The label of each catalogue product (its first photo's)."""
        first = {int(p): s for s, p in zip(reversed(self.catalogue), reversed(self.product_of))}
        return [first[i].label for i in range(len(self.products))]

    def excluded_products(self) -> np.ndarray | None:
        """For leave-one-out, the product each query must not find (itself); else None."""
        return self.product_of.copy() if self.leave_one_out else None

    def relevance(self, rankings: np.ndarray) -> np.ndarray:
        """Boolean ``rankings.shape`` matrix: is the product at each rank a hit for its query (-1 never is)."""
        codes: dict[str, int] = {}

        def code(keys: list[str]) -> np.ndarray:  # "" (no product id) -> -1, never equal to a code
            return np.array([codes.setdefault(k, len(codes)) if k else -1 for k in keys], dtype=np.int64)

        first = {int(p): s for s, p in zip(reversed(self.catalogue), reversed(self.product_of))}
        items_first = [first[i] for i in range(len(self.products))]
        item_labels = code([f"label:{s.label}" for s in items_first])
        item_ids = code([s.product_id and f"id:{s.product_id}" for s in items_first])
        query_labels = code([f"label:{s.label}" for s in self.queries])[:, None]
        query_ids = code([s.product_id and f"id:{s.product_id}" for s in self.queries])[:, None]
        items = np.maximum(rankings, 0)
        by_label = item_labels[items] == query_labels
        by_id = (item_ids[items] == query_ids) & (query_ids >= 0)
        return np.where(query_ids >= 0, by_id, by_label) & (rankings >= 0)

    def relevant_counts(self) -> np.ndarray:
        """How many catalogue products are hits for each query (its own product left out in leave-one-out)."""
        everything = np.broadcast_to(np.arange(len(self.products)), (len(self.queries), len(self.products)))
        relevant = self.relevance(np.array(everything))
        excluded = self.excluded_products()
        if excluded is not None:
            relevant[np.arange(len(self.queries)), excluded] = False
        return relevant.sum(axis=1)


def _photos(folder: Path, label_depth: int | None = None) -> list[Sample]:
    """Every photo under ``folder``, labelled by its folder path (its first ``label_depth`` parts)."""
    samples, unlabelled = [], []
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if any(part.startswith(".") for part in parts) or not path.is_file():
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        folders = parts[:-1]
        if not folders:
            unlabelled.append(path.name)
            continue
        samples.append(Sample(path, "/".join(folders[:label_depth] if label_depth else folders)))
    if unlabelled:
        raise ValueError(f"{folder}: {len(unlabelled)} photo(s) directly in it have no label folder "
                         f"(e.g. {unlabelled[0]}); put each photo in a folder named after its label.")
    return samples


def _from_manifest(manifest: Path) -> EvaluationSet:
    queries, catalogue = [], []
    with manifest.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"path", "label", "split"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{manifest}: missing column(s) {', '.join(sorted(missing))}.")
        for line, row in enumerate(reader, start=2):
            path = Path(row["path"])
            sample = Sample(path if path.is_absolute() else manifest.parent / path, row["label"].strip(),
                            (row.get("product_id") or "").strip())
            split = row["split"].strip().lower()
            if split not in ("query", "catalogue"):
                raise ValueError(f"{manifest}:{line}: split must be 'query' or 'catalogue', not {split!r}.")
            (queries if split == "query" else catalogue).append(sample)
    return EvaluationSet(manifest.stem, "manifest", queries, catalogue)


def load_evaluation_set(
    source: str | Path, *, leave_one_out: bool = False, label_depth: int | None = None,
) -> EvaluationSet:
    """Read a folder or a CSV manifest (see the module docstring); ``ValueError`` when it is neither.

    ``leave_one_out`` pools every photo of a split layout and queries each against all others;
    ``label_depth`` keeps the first N folder names of each photo's path as its label.
    """
    source = Path(source)
    if label_depth is not None and label_depth < 1:
        raise ValueError("label_depth must be at least 1.")
    if source.is_file() and source.suffix.lower() == ".csv":
        return _from_manifest(source)
    if not source.is_dir():
        raise ValueError(f"{source} is neither a folder nor a .csv manifest.")
    folders = {p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")}
    splits = folders & set(QUERY_SPLITS + CATALOGUE_SPLITS)
    if splits and folders - splits:
        raise ValueError(f"{source} mixes split folders ({', '.join(sorted(splits))}) with other folders "
                         f"({', '.join(sorted(folders - splits))}): is it one folder per label or per split? "
                         "Move the label folders into the splits, or rename the splits.")
    catalogue_splits = [split for split in CATALOGUE_SPLITS if split in splits]
    if set(QUERY_SPLITS) <= splits and catalogue_splits and not leave_one_out:
        queries = [s for split in QUERY_SPLITS for s in _photos(source / split, label_depth)]
        catalogue = [s for split in catalogue_splits for s in _photos(source / split, label_depth)]
        return EvaluationSet(source.name, f"{'+'.join(catalogue_splits)}/test", queries, catalogue)
    if splits:
        pooled = catalogue_splits + [split for split in QUERY_SPLITS if split in splits]
        photos = [s for split in pooled for s in _photos(source / split, label_depth)]
        layout = f"{'+'.join(pooled)} pooled, leave-one-out"
    else:
        photos = _photos(source, label_depth)
        layout = "one folder per label, leave-one-out"
    if not photos:
        raise ValueError(f"{source} has no photos in label sub-folders.")
    return EvaluationSet(source.name, layout, photos, photos, leave_one_out=True)
