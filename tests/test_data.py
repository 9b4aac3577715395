"""Built-in tasks and their data: fixed, documented splits; IDX parsing; clear errors."""

import gzip

import pytest
import torch

from hyperzoo import core
from hyperzoo.core import testing
from hyperzoo.core.data import data_root, read_idx


def test_digits_splits_are_fixed_and_stratified():
    task = core.get_task("digits-seq")
    splits = task.splits()
    sizes = {k: len(v) for k, v in splits.items()}
    assert sizes == {"train": 1293, "val": 144, "test": 360}
    x, y = splits["train"].tensors
    assert x.shape == (1293, 1, 64) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert abs(float(x.mean())) < 1e-5 and abs(float(x.std()) - 1) < 1e-3  # standardised on train
    assert torch.bincount(splits["test"].tensors[1]).min() >= 35  # stratified: ~36 per class
    again = core.get_task("digits-2d").splits()
    assert torch.equal(again["test"].tensors[1], splits["test"].tensors[1])
    assert again["test"].tensors[0].shape == (360, 1, 8, 8)
    assert task.model_defaults() == {"in_channels": 1, "num_classes": 10, "seq_len": 64, "in_features": 64}


def test_mnist_tasks_read_the_shared_files():
    testing.require_data("mnist/train-5k-images-idx3-ubyte.gz", "mnist/t10k-images-idx3-ubyte.gz")
    seq = core.get_task("mnist-seq").splits()
    assert {k: len(v) for k, v in seq.items()} == {"train": 4500, "val": 500, "test": 10000}
    assert torch.bincount(seq["val"].tensors[1]).tolist() == [50] * 10  # stratified, seeded draw
    assert seq["train"].tensors[0].shape == (4500, 1, 784)
    images = core.get_task("mnist-2d").splits()
    assert torch.equal(images["test"].tensors[0].flatten(1), seq["test"].tensors[0].flatten(1))
    perm = core.get_task("pmnist-seq").splits()
    a, b = perm["test"].tensors[0][0, 0], seq["test"].tensors[0][0, 0]
    assert not torch.equal(a, b) and torch.equal(a.sort().values, b.sort().values)
    other = core.get_task("pmnist-seq", permutation_seed=1).splits()["test"].tensors[0][0, 0]
    assert not torch.equal(other, a)


def test_read_idx_checks_the_header(tmp_path):
    good = tmp_path / "ok-idx1-ubyte.gz"
    with gzip.open(good, "wb") as fh:
        fh.write(bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([7, 8, 9]))
    assert read_idx(good).tolist() == [7, 8, 9]
    short = tmp_path / "short-idx1-ubyte"
    short.write_bytes(bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + bytes([1]))
    with pytest.raises(ValueError, match=r"header says shape \(5,\) but the file holds 1 bytes"):
        read_idx(short)
    bad = tmp_path / "bad"
    bad.write_bytes(b"PK\x03\x04junk")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)


def test_data_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("HYPERZOO_DATA", str(tmp_path))
    assert data_root() == tmp_path
    assert data_root(tmp_path / ".") == tmp_path / "."
    monkeypatch.setenv("HYPERZOO_DATA", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="HYPERZOO_DATA=.* is not a directory"):
        data_root()


def test_bad_task_arguments():
    with pytest.raises(ValueError, match="subset must be '5k'"):
        core.get_task("mnist-seq", subset="60k")
    with pytest.raises(core.ConfigError, match="task has no argument 'size'"):
        core.get_task("digits-seq", size=3)


def test_baselines_shapes_and_width_controls_parameter_count():
    from hyperzoo.core.baselines import count_parameters

    x_seq, x_img = torch.randn(3, 1, 64), torch.randn(3, 1, 8, 8)
    for name, kw, x in [("mlp", {"in_features": 64}, x_seq), ("cnn", {"in_channels": 1, "seq_len": 64}, x_seq),
                        ("cnn", {"in_channels": 1, "image_size": [8, 8]}, x_img), ("lstm", {"in_channels": 1}, x_seq),
                        ("transformer", {"in_channels": 1, "seq_len": 64}, x_seq)]:
        small = core.create_model(name, num_classes=10, width=16, **kw)
        large = core.create_model(name, num_classes=10, width=64, **kw)
        assert small(x).shape == (3, 10)
        assert count_parameters(large) > 3 * count_parameters(small)
    with pytest.raises(ValueError, match="divisible by heads"):
        core.create_model("transformer", in_channels=1, num_classes=2, seq_len=4, width=10, heads=4)
    with pytest.raises(ValueError, match="needs seq_len"):
        core.create_model("cnn", in_channels=1, num_classes=2)
