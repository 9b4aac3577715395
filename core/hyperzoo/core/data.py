"""Data roots and the loaders of core's built-in data sets (scikit-learn digits, MNIST in IDX format).

The data root is, in order: the ``root`` a caller passes, ``$HYPERZOO_DATA``, or ``../shared/data`` relative
to the working directory (the layout of a hyperzoo checkout). Nothing is ever downloaded.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = ["DataNotFoundError", "data_root", "data_file", "read_idx", "load_digits", "load_mnist"]


class DataNotFoundError(FileNotFoundError):
    """A data file is missing; the message says where it was looked for and how to provide it."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder holding ``mnist/``, ``hypergraph/``, ... (see module docstring for the search order)."""
    if root is not None:
        path = Path(root).expanduser()
        if not path.is_dir():
            raise DataNotFoundError(f"data root {str(path)!r} (passed as data_root) is not a directory")
        return path
    env = os.environ.get("HYPERZOO_DATA")
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise DataNotFoundError(f"HYPERZOO_DATA={env!r} is not a directory; point it at your data root")
        return path
    path = Path.cwd().parent / "shared" / "data"
    if path.is_dir():
        return path
    raise DataNotFoundError(
        "no data root: pass data_root=..., or set HYPERZOO_DATA to a folder holding mnist/, hypergraph/, ... "
        f"(in a hyperzoo checkout it is ../shared/data; looked in {str(path)!r})"
    )


def data_file(relative: str, root: str | os.PathLike | None = None, *, alternatives: tuple[str, ...] = ()) -> Path:
    """``<data root>/<relative>`` (or the first of ``alternatives`` that exists); a clear error when missing."""
    base = data_root(root)
    for rel in (relative, *alternatives):
        if (base / rel).is_file():
            return base / rel
    tried = ", ".join(repr(str(base / r)) for r in (relative, *alternatives))
    raise DataNotFoundError(f"missing data file: looked for {tried}. Put the file there or pass another data_root.")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not, checking its header against its size."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if raw[2] not in dtypes:
        raise ValueError(f"{path}: unknown IDX element type 0x{raw[2]:02x}")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(dtypes[raw[2]])
    body = raw[4 + 4 * ndim :]
    if len(body) != int(np.prod(shape)) * dtype.itemsize:
        raise ValueError(f"{path}: header says shape {shape} but the file holds {len(body)} bytes of data")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits: images float32 in [0, 16] of shape (N, 8, 8), labels int64."""
    from sklearn.datasets import load_digits as _load

    d = _load()
    return d.images.astype(np.float32), d.target.astype(np.int64)


MNIST_FILES = {
    "5k": ("train-5k-images-idx3-ubyte", "train-5k-labels-idx1-ubyte"),
    "full": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def load_mnist(split: str = "5k", root: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST images uint8 (N, 28, 28) and labels int64 from ``<root>/mnist/`` (``.gz`` or uncompressed IDX).

    ``split``: ``"5k"`` (the 5,000-image training subset shipped with the project), ``"full"`` (the 60k
    training set, if you have it) or ``"test"`` (the official 10k test set).
    """
    if split not in MNIST_FILES:
        raise ValueError(f"mnist split must be one of {sorted(MNIST_FILES)}, got {split!r}")
    paths = [data_file(f"mnist/{name}.gz", root, alternatives=(f"mnist/{name}",)) for name in MNIST_FILES[split]]
    images, labels = (read_idx(p) for p in paths)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"MNIST {split}: images {images.shape} and labels {labels.shape} do not match")
    return images, labels.astype(np.int64)
