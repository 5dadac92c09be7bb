"""Running a converted Keras network with TensorFlow Lite (XNNPACK): the model cache and a shared interpreter.

A network is converted once per machine (``tf.lite.TFLiteConverter``, which needs
TensorFlow) and cached as a ``.tflite`` file; later processes read the file and,
with ``ai-edge-litert`` installed, never import TensorFlow at all. A float32
conversion computes the same function as the Keras graph (vectors agree to about
1e-5), several times faster for the single photos a search embeds.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SharedInterpreter", "cached_model", "default_model_dir", "interpreter_class"]

logger = logging.getLogger(__name__)


def default_model_dir() -> Path:
    """Where converted models are cached: ``$VISUAL_SEARCH_MODEL_CACHE``, else ``~/.cache/visual-search/tflite``."""
    configured = os.environ.get("VISUAL_SEARCH_MODEL_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "visual-search" / "tflite"


def cached_model(path: Path, convert: Callable[[], bytes]) -> bytes:
    """The model bytes at ``path``, converting and writing them first when the file is missing.

    Written to a temporary file and renamed, so processes converting at once never
    read half a file. An unwritable cache only costs a conversion per process.
    """
    try:
        return path.read_bytes()
    except OSError:  # missing, or a cache folder that cannot be one
        pass
    model = convert()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, suffix=".tmp", delete=False) as out:
            out.write(model)
        os.chmod(out.name, 0o644)  # readable by other users, e.g. a container's worker user
        os.replace(out.name, path)
    except OSError as error:
        logger.warning("Could not cache the converted model at %s (%s); converting again in each process.",
                       path, error)
    return model


def interpreter_class() -> type:
    """LiteRT's interpreter (``ai-edge-litert``: no TensorFlow import, smaller workers), else TF's deprecated one."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415
    except ImportError:
        import tensorflow as tf  # noqa: PLC0415

        return tf.lite.Interpreter
    return Interpreter


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class SharedInterpreter:
    """One interpreter per process, used by one thread at a time, resized to each batch it is handed.

    Not one per thread: each interpreter repacks the weights and keeps its own activation
    arena (about 20 MiB for one photo), so a threaded web worker would grow by that for
    every thread that ever searched. One forward pass already uses every core it is given,
    so passes waiting their turn lose no throughput. Resizing to a smaller batch reuses
    the arena (0.1 ms); a larger one grows it once.
    """

    def __init__(self, model: bytes, num_threads: int | None = None) -> None:
        self.model = model
        # As many threads as the process may use, like TensorFlow's own default.
        self.num_threads = num_threads or _cores()
        self._lock = threading.Lock()
        self._interpreter: Any = None
        self._shape: tuple[int, ...] | None = None

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The model's single output for ``batch`` (its single input), as a new array."""
        with self._lock:
            interpreter = self._interpreter
            if interpreter is None:
                interpreter = self._interpreter = interpreter_class()(
                    model_content=self.model, num_threads=self.num_threads
                )
            index = interpreter.get_input_details()[0]["index"]
            if self._shape != batch.shape:
                interpreter.resize_tensor_input(index, list(batch.shape))
                interpreter.allocate_tensors()
                self._shape = batch.shape
            interpreter.set_tensor(index, batch)
            interpreter.invoke()
            return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy()
