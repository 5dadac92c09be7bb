"""EfficientNet-Lite features pooled over the whole image and over a grid of regions (R-MAC style).

Averaging the last feature map over the whole image throws away where things
are: a long sleeve and a short one differ at the sides of the picture. This
backend keeps the global average and adds one average per cell of a
``grid x grid`` split, each part unit-length. It is meant as the input of an
adapted head (``visual_search_train --base``): at 6,400 dimensions it is over
pgvector's 2,000-dimension HNSW limit, so it is not served as is.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from visual_search.encoders.efficientnet_lite import EfficientNetLiteEncoder, build_network
from visual_search.encoders.torch_checkpoint import load_state_dict

__all__ = ["RegionalEfficientNetLiteEncoder"]


class RegionalEfficientNetLiteEncoder(EfficientNetLiteEncoder):
    """Global average + ``grid`` x ``grid`` regional averages of the EfficientNet-Lite feature map."""

    describes = False  # its parts are normalised: the ImageNet layer's raw input is gone

    def __init__(self, variant: str = "lite0", grid: int = 2, pooling: str = "avg", **options: Any) -> None:
        if pooling != "avg":
            raise ImproperlyConfigured("RegionalEfficientNetLiteEncoder pools by averaging only.")
        super().__init__(variant=variant, pooling="avg", **options)
        self.runtime = "keras"  # its regional pooling is a graph of its own, never converted
        self.grid = int(grid)
        self.id = f"efficientnet-{variant}-regional{self.grid}"
        self.dimensions = 1280 * (1 + self.grid * self.grid)

    def _load(self) -> None:
        import tensorflow as tf  # noqa: PLC0415 - never at import time

        backbone, _ = build_network(load_state_dict(self.checkpoint_path()), self.input_size)
        grid, size = self.grid, self.input_size

        @tf.function(input_signature=[tf.TensorSpec((None, size, size, 3), tf.uint8)])
        def features(pixels: Any) -> Any:
            maps = backbone((tf.cast(pixels, tf.float32) - 127.0) / 128.0, training=False)
            parts = [tf.math.l2_normalize(tf.reduce_mean(maps, axis=(1, 2)), axis=1)]
            height = maps.shape[1]
            # Cells overlap by one row/column when the map (7 x 7 at 224 px) does not split evenly.
            edges = [round(i * height / grid) for i in range(grid + 1)]
            for row in range(grid):
                for column in range(grid):
                    cell = maps[:, edges[row] : max(edges[row + 1], edges[row] + 1),
                                edges[column] : max(edges[column + 1], edges[column] + 1), :]
                    parts.append(tf.math.l2_normalize(tf.reduce_mean(cell, axis=(1, 2)), axis=1))
            return tf.concat(parts, axis=1)

        self._features = features
