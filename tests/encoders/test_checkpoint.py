"""torch_checkpoint: reads real legacy checkpoints, refuses everything else without executing it."""

from __future__ import annotations

import io
import os
import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest

from visual_search.encoders.efficientnet_lite import EfficientNetLiteEncoder
from visual_search.encoders.torch_checkpoint import (
    MAGIC_NUMBER,
    PROTOCOL_VERSION,
    STORAGE_DTYPES,
    CheckpointError,
    load_state_dict,
)

SYS_INFO = {"protocol_version": PROTOCOL_VERSION, "little_endian": True}


class Storage:
    def __init__(self, key: str, array: np.ndarray) -> None:
        self.key, self.array = key, array.ravel()


class Tensor:
    def __init__(self, storage: Storage, offset: int, shape: tuple, stride: tuple) -> None:
        self.args = (storage, offset, shape, stride, False, OrderedDict())

    def __reduce__(self):
        return sys.modules["torch._utils"]._rebuild_tensor_v2, self.args


class Evil:
    """Pickles as a call to ``function(*args)``: what a hostile checkpoint would carry."""

    def __init__(self, function, *args) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.fixture
def write(tmp_path, monkeypatch):
    """Write legacy-format files as torch.save(..., _use_new_zipfile_serialization=False) does, torch-free."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    for name in STORAGE_DTYPES:
        setattr(torch, name, type(name, (), {"__module__": "torch"}))

    def _rebuild_tensor_v2(*args):
        raise AssertionError("only pickled, never called")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    def storage_type(dtype: np.dtype):
        return getattr(torch, next(name for name, known in STORAGE_DTYPES.items() if known == dtype))

    def write(state, *, head=(MAGIC_NUMBER, PROTOCOL_VERSION, SYS_INFO), storages=None, keys=None, cut=0):
        if storages is None:
            storages = [Storage(name, array) for name, array in state.items()]
            state = OrderedDict(
                (s.key, Tensor(s, 0, array.shape, _strides(array))) for s, array in zip(storages, state.values())
            )
        buffer = io.BytesIO()
        for obj in head:
            pickle.dump(obj, buffer, protocol=2)
        pickler = pickle.Pickler(buffer, protocol=2)
        pickler.persistent_id = lambda obj: (
            ("storage", storage_type(obj.array.dtype), obj.key, "cpu", obj.array.size, None)
            if isinstance(obj, Storage)
            else None
        )
        pickler.dump(state)
        pickle.dump([s.key for s in storages] if keys is None else keys, buffer, protocol=2)
        for storage in storages:
            buffer.write(np.int64(storage.array.size).tobytes() + storage.array.tobytes())
        path = tmp_path / "checkpoint.pth"
        path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) - cut])
        return path

    return write


def _strides(array: np.ndarray) -> tuple[int, ...]:
    return tuple(s // array.itemsize for s in np.ascontiguousarray(array).strides)


def test_reads_the_shipped_lite0_checkpoint():
    state = load_state_dict(EfficientNetLiteEncoder(variant="lite0").checkpoint_path())
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_conv_stem.weight"].dtype == np.float32
    assert np.allclose(state["_conv_stem.weight"][0, 0, 0, :2], [-1.1103361, -1.3087704])
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_bn0.num_batches_tracked"].dtype == np.int64
    # 4,652,008 parameters plus 42,016 batch-norm statistics
    assert sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked")) == 4_694_024


def test_round_trip_of_dtypes_offsets_and_strides(write):
    floats = np.arange(12, dtype="<f4")
    ints = np.array([3, -1], dtype="<i8")
    storage = Storage("shared", floats)
    path = write(
        {
            "view": Tensor(storage, 2, (2, 3), (1, 2)),  # a transposed, offset view of one storage
            "whole": Tensor(storage, 0, (12,), (1,)),
            "ints": Tensor(Storage("ints", ints), 0, (2,), (1,)),
        },
        storages=[storage, Storage("ints", ints)],
    )
    state = load_state_dict(path)
    assert state["view"].tolist() == [[2, 4, 6], [3, 5, 7]]
    assert state["whole"].tolist() == floats.tolist()
    assert (state["ints"].dtype, state["ints"].tolist()) == (np.dtype(np.int64), [3, -1])
    assert state["view"].flags.writeable  # copies, not views of the file buffer


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a readable"),
        (np.random.default_rng(1).bytes(64), "not a readable"),
        (b"PK\x03\x04" + bytes(60), "zip-format"),
    ],
    ids=["empty", "random", "zip"],
)
def test_files_that_are_not_legacy_checkpoints_are_refused(tmp_path, content, message):
    path = tmp_path / "checkpoint.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_state_dict(path)


def _bad_view() -> dict:
    storage = Storage("s", np.ones(3, "<f4"))
    return {"state": {"w": Tensor(storage, 1, (3,), (1,))}, "storages": [storage]}


def _zero_stride_bomb() -> dict:
    """Three stored floats that zero strides would blow up into a 10^12-element array."""
    storage = Storage("s", np.ones(3, "<f4"))
    return {"state": {"w": Tensor(storage, 0, (10**6, 10**6), (0, 0))}, "storages": [storage]}


@pytest.mark.parametrize(
    "options, message",
    [
        ({"head": (1234, PROTOCOL_VERSION, SYS_INFO)}, "magic"),
        ({"head": (MAGIC_NUMBER, 1000, SYS_INFO)}, "protocol version"),
        ({"cut": 4}, "truncated"),
        ({"keys": []}, "do not match"),
        (_bad_view(), "outside its storage"),
        (_zero_stride_bomb(), "more elements than its storage"),
        ({"state": [1, 2, 3], "storages": []}, "state dict"),
    ],
    ids=["magic", "protocol", "truncated", "keys", "out-of-bounds-view", "zero-stride-bomb", "not-a-dict"],
)
def test_malformed_checkpoints_are_refused(write, options, message):
    with pytest.raises(CheckpointError, match=message):
        load_state_dict(write(**{"state": {"w": np.ones(3, "<f4")}, **options}))


@pytest.mark.parametrize("where", ["state", "magic", "nested"])
@pytest.mark.parametrize("function", [os.system, eval, exec])
def test_pickles_naming_anything_else_are_refused_without_running_it(write, tmp_path, where, function):
    marker = tmp_path / "pwned"
    payload = f"touch {marker}" if function is os.system else f"open({str(marker)!r}, 'w').close()"
    evil = Evil(function, payload)
    if where == "state":
        path = write(OrderedDict(x=evil), storages=[])
    elif where == "magic":
        path = write({}, head=(evil, PROTOCOL_VERSION, SYS_INFO))
    else:
        path = write({"w": Tensor(Storage("s", np.ones(1, "<f4")), 0, (1,), (1,))},
                     storages=[Storage("s", np.ones(1, "<f4"))], head=(MAGIC_NUMBER, PROTOCOL_VERSION, [evil]))
    with pytest.raises(CheckpointError, match=r"(posix|nt|__builtin__)\.(system|eval|exec), which is not allowed"):
        load_state_dict(path)
    assert not marker.exists()


def test_the_hostile_payload_is_live_under_plain_pickle(write, tmp_path):
    """Guards the test above: the same kind of file does run code when nothing restricts it."""
    marker = tmp_path / "pwned"
    path = write(OrderedDict(x=Evil(eval, f"open({str(marker)!r}, 'w').close()")), storages=[])
    with path.open("rb") as file:
        for _ in range(4):
            pickle.load(file)
    assert marker.exists()
