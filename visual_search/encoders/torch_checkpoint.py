"""Read PyTorch's legacy (pre-zip) checkpoint format into numpy arrays, without torch.

Layout of a legacy file: five pickles back to back (magic number, protocol
version, system info, the object with storages as persistent ids, the list of
storage keys), then for each listed key an int64 element count and the raw
little-endian bytes. Pickle runs whatever callables a file names, so the
unpickler below resolves only an allow-list of names and builds inert
placeholders for them; it never imports or calls anything else.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CheckpointError", "load_state_dict"]

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

STORAGE_DTYPES: dict[str, np.dtype] = {
    name: np.dtype(code)
    for name, code in {
        "FloatStorage": "<f4",
        "DoubleStorage": "<f8",
        "HalfStorage": "<f2",
        "LongStorage": "<i8",
        "IntStorage": "<i4",
        "ShortStorage": "<i2",
        "CharStorage": "i1",
        "ByteStorage": "u1",
        "BoolStorage": "?",
    }.items()
}


class CheckpointError(ValueError):
    """The file is not a legacy torch checkpoint this reader accepts."""


class _Storage:
    """Placeholder for a storage whose bytes follow the pickles."""

    def __init__(self, key: str, dtype: np.dtype, numel: int) -> None:
        self.key, self.dtype, self.numel = key, dtype, numel
        self.data: np.ndarray | None = None


class _TensorRef:
    """A tensor view (offset, shape, strides in elements) into a ``_Storage``."""

    def __init__(self, storage: Any, offset: Any, shape: Any, stride: Any, *_: Any) -> None:
        if not isinstance(storage, _Storage):
            raise CheckpointError("Tensor rebuild got something other than a storage.")
        self.storage = storage
        self.offset = int(offset)
        self.shape = tuple(int(n) for n in shape)
        self.stride = tuple(int(n) for n in stride)

    def materialise(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise CheckpointError(f"Storage {self.storage.key!r} has no data in the file.")
        if len(self.shape) != len(self.stride) or min(self.shape + self.stride, default=0) < 0:
            raise CheckpointError("Tensor has an invalid shape or stride.")
        # A state dict's tensors never repeat elements: this also stops zero strides from
        # making a tiny storage materialise into a huge array.
        if int(np.prod(self.shape, dtype=np.int64)) > data.size:
            raise CheckpointError("Tensor has more elements than its storage.")
        # Bounds check before as_strided, which would otherwise read past the buffer.
        if 0 not in self.shape:
            last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride))
            if self.offset < 0 or last >= data.size:
                raise CheckpointError("Tensor view reaches outside its storage.")
        strides = tuple(s * data.itemsize for s in self.stride)
        view = np.lib.stride_tricks.as_strided(data[self.offset :], self.shape, strides)
        return np.array(view, dtype=data.dtype.newbyteorder("="))


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the names a state dict needs."""

    ALLOWED = {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _TensorRef,
        ("torch._utils", "_rebuild_tensor"): _TensorRef,
        **{("torch", name): name for name in STORAGE_DTYPES},
    }

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise CheckpointError(
                f"Checkpoint refers to {module}.{name}, which is not allowed in a state dict; "
                "refusing to load it."
            ) from None

    def persistent_load(self, pid: Any) -> _Storage:
        # ("storage", type, key, location, numel, view_metadata); views predate torch 1.0.
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage" and pid[5] is None):
            raise CheckpointError(f"Unsupported persistent id {pid!r:.80}.")
        _, storage_type, key, _location, numel, _ = pid
        if storage_type not in STORAGE_DTYPES or not isinstance(numel, int) or numel < 0:
            raise CheckpointError(f"Unsupported storage {storage_type!r:.80}.")
        if key not in self.storages:
            self.storages[key] = _Storage(key, STORAGE_DTYPES[storage_type], numel)
        return self.storages[key]


def load_state_dict(path: str | PathLike[str]) -> dict[str, np.ndarray]:
    """Return the tensors of a legacy torch checkpoint as ``{name: ndarray}``."""
    buffer = Path(path).read_bytes()
    if buffer[:4] == b"PK\x03\x04":
        raise CheckpointError(f"{path} is a zip-format torch checkpoint; only the legacy format is read.")
    stream = io.BytesIO(buffer)
    unpickler = _RestrictedUnpickler(stream)
    try:
        if unpickler.load() != MAGIC_NUMBER:
            raise CheckpointError(f"{path} is not a torch checkpoint (bad magic number).")
        if unpickler.load() != PROTOCOL_VERSION:
            raise CheckpointError(f"{path} has an unsupported protocol version.")
        unpickler.load()  # system info: endianness and type sizes, little-endian assumed
        state = unpickler.load()
        keys = unpickler.load()
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise CheckpointError(f"{path} is not a readable torch checkpoint: {exc}") from None
    if not isinstance(state, dict) or not all(isinstance(v, _TensorRef) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors.")
    if not isinstance(keys, list) or set(keys) != set(unpickler.storages):
        raise CheckpointError(f"{path} lists storages that do not match its tensors.")

    offset = stream.tell()
    for key in keys:
        storage = unpickler.storages[key]
        header = buffer[offset : offset + 8]
        size = int.from_bytes(header, "little", signed=True) if len(header) == 8 else -1
        end = offset + 8 + size * storage.dtype.itemsize
        if size != storage.numel or end > len(buffer):
            raise CheckpointError(f"{path} is truncated or corrupt at storage {key!r}.")
        storage.data = np.frombuffer(buffer, storage.dtype, size, offset + 8)
        offset = end
    return {name: ref.materialise() for name, ref in state.items()}
