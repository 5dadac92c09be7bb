"""Naming what a photo shows: an ImageNet-1k classifier on the features an encoder already computed.

The EfficientNet-Lite checkpoints are whole ImageNet classifiers. Their last layer
(``_fc``, 1000 x 1280) reads the average-pooled features, the very numbers an embedding
is normalised from, so ``softmax(features @ W.T + b)`` names a photo from the forward
pass its search already ran: one small matrix product in numpy, no second inference.
The 1,000 class names ship beside this module in ``imagenet_classes.txt`` (copied from
torchvision, BSD 3-Clause; its header says where from).
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass

import numpy as np

__all__ = ["ImageLabel", "ImageNetClassifier", "class_names"]

CLASSES = 1000


@dataclass(frozen=True)
class ImageLabel:
    """One ImageNet class for an image: its name, its softmax probability (0-1) and its index (0-999)."""

    name: str
    probability: float
    index: int


@functools.cache
def class_names() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names, in the order of a classifier's outputs."""
    text = importlib.resources.files(__package__).joinpath("imagenet_classes.txt").read_text("utf-8")
    names = tuple(line for line in text.splitlines() if line and not line.startswith("#"))
    if len(names) != CLASSES:
        raise RuntimeError(f"imagenet_classes.txt holds {len(names)} names, not {CLASSES}.")
    return names


class ImageNetClassifier:
    """An ImageNet layer (``weight`` of shape (1000, features), ``bias`` (1000,)) applied in numpy."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        if weight.ndim != 2 or weight.shape[0] != CLASSES or bias.shape != (CLASSES,):
            raise ValueError(f"Not an ImageNet-1k layer: weight {weight.shape}, bias {bias.shape}.")
        # Stored (features, classes), contiguous: the layout einsum reads fastest.
        self.weight = np.ascontiguousarray(weight.T, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)

    def logits(self, features: np.ndarray) -> np.ndarray:
        """``(n, 1000)`` logits for ``(n, features)`` raw (not normalised) pooled features."""
        # einsum, not ``@``: for one photo OpenBLAS wakes its threads and spends 4-5x the CPU time
        # (0.58 against 0.12 ms measured on two busy cores) that a web worker's other requests need.
        return np.einsum("nj,jc->nc", np.asarray(features, dtype=np.float32), self.weight) + self.bias

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """``(n, 1000)`` softmax probabilities for ``(n, features)`` raw pooled features."""
        logits = self.logits(features)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    def describe(self, features: np.ndarray, *, top: int = 1) -> list[list[ImageLabel]]:
        """The ``top`` most probable classes of each row, most probable first."""
        probabilities = self.probabilities(features)
        best = np.argsort(-probabilities, axis=1)[:, :top]
        names = class_names()
        return [[ImageLabel(names[i], float(row[i]), int(i)) for i in order]
                for row, order in zip(probabilities, best, strict=True)]
