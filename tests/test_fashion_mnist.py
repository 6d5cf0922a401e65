"""Fashion-MNIST loading: real idx files written here, read through the real search order."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from raysha.workloads import fashion_mnist as fm

REAL = Path("/usr/share/datasets/fashion-mnist")
HAVE_DEBIAN = all((REAL / (f + ".gz")).is_file() for f in fm.FILES)
HAVE_REAL = fm.locate() is not None      # the Debian package or torchvision's download (`make data`)


def idx_bytes(arr: np.ndarray) -> bytes:
    """The idx format (big-endian header: 0, 0, dtype 0x08 = uint8, ndim; then the dims)."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes()


def write_dataset(folder: Path, n_train=50, n_test=20, label_offset=0, gz=True, seed=0) -> dict:
    """Four idx files in `folder`; labels shifted by `label_offset` mod 10 to tell sources apart."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": ((np.arange(n_train) + label_offset) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": ((np.arange(n_test) * 3 + label_offset) % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        data = idx_bytes(arr)
        if gz:
            with gzip.open(folder / (name + ".gz"), "wb") as f:
                f.write(data)
        else:
            (folder / name).write_bytes(data)
    return arrays


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No real data visible: empty TORCH_HOME, cache in tmp, no Debian folder, no RAYSHA_DATA."""
    monkeypatch.delenv("RAYSHA_DATA", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("RAYSHA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "debian")
    fm._CACHE.clear()
    yield tmp_path
    fm._CACHE.clear()


def listing(folder: Path):
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*"))


def test_gz_folder_like_debian_is_decoded_by_torchvision_without_writing_to_it(isolated):
    src = isolated / "flat"
    arrays = write_dataset(src, gz=True)
    before = listing(src)
    d = fm.load_fashion_mnist(data_dir=src, download=False)
    assert listing(src) == before                      # the source folder is only read
    assert d.train_x.dtype == np.uint8 and d.train_x.shape == (50, 28, 28)
    assert d.test_x.shape == (20, 28, 28)
    assert d.train_y.dtype == np.int64 and d.test_y.dtype == np.int64
    np.testing.assert_array_equal(d.train_x, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(d.train_y, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(d.test_x, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(d.test_y, arrays["t10k-labels-idx1-ubyte"])
    assert "data_dir" in d.source and str(src) in d.source
    # decoded once into the cache in torchvision's layout, then reused
    raws = list((isolated / "cache").rglob("FashionMNIST/raw"))
    assert len(raws) == 1 and sorted(p.name for p in raws[0].iterdir()) == sorted(fm.FILES)
    mtimes = listing(raws[0])
    d2 = fm.load_fashion_mnist(data_dir=src, download=False)
    np.testing.assert_array_equal(d2.train_x, d.train_x)
    assert listing(raws[0]) == mtimes


def test_torchvision_layout_decoded_is_read_in_place(isolated):
    root = isolated / "tv"
    arrays = write_dataset(root / "FashionMNIST" / "raw", gz=False, label_offset=4)
    d = fm.load_fashion_mnist(data_dir=root, download=False)
    np.testing.assert_array_equal(d.train_y, arrays["train-labels-idx1-ubyte"])
    assert not (isolated / "cache").exists()            # nothing to decode: no cache written


def test_search_order(isolated, monkeypatch):
    explicit = isolated / "explicit"
    env = isolated / "env"
    torch_cache = isolated / "torch_home" / "datasets" / "FashionMNIST" / "raw"
    debian = isolated / "debian"
    write_dataset(explicit, label_offset=1)
    write_dataset(env, label_offset=2)
    write_dataset(torch_cache, label_offset=3)
    write_dataset(debian, label_offset=4)

    def first_label(**kw):
        return int(fm.load_fashion_mnist(download=False, **kw).train_y[0])

    monkeypatch.setenv("RAYSHA_DATA", str(env))
    assert first_label(data_dir=explicit) == 1          # 1. explicit argument
    assert first_label() == 2                           # 2. RAYSHA_DATA
    monkeypatch.delenv("RAYSHA_DATA")
    d = fm.load_fashion_mnist(download=False)           # 3. the torchvision cache
    assert int(d.train_y[0]) == 3 and "torchvision cache" in d.source
    import shutil
    shutil.rmtree(isolated / "torch_home")
    d = fm.load_fashion_mnist(download=False)           # 4. the Debian package folder
    assert int(d.train_y[0]) == 4 and "dataset-fashion-mnist" in d.source


def test_explicit_folder_without_files_is_an_error_not_a_fallthrough(isolated, monkeypatch):
    write_dataset(isolated / "debian")
    (isolated / "empty").mkdir()
    with pytest.raises(fm.FashionMNISTNotFound, match="data_dir argument"):
        fm.load_fashion_mnist(data_dir=isolated / "empty")
    monkeypatch.setenv("RAYSHA_DATA", str(isolated / "nowhere"))
    with pytest.raises(fm.FashionMNISTNotFound, match="RAYSHA_DATA"):
        fm.load_fashion_mnist()


def test_missing_everywhere_names_the_options(isolated, monkeypatch):
    with pytest.raises(fm.FashionMNISTNotFound) as e:
        fm.load_fashion_mnist(download=False)
    msg = str(e.value)
    for option in ("--data-dir", "RAYSHA_DATA", "dataset-fashion-mnist", "download", "torchvision cache"):
        assert option in msg

    def offline():
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(fm, "_download", offline)
    with pytest.raises(fm.FashionMNISTNotFound, match="Download failed.*name resolution"):
        fm.load_fashion_mnist(download=True)


def test_download_lands_in_the_torchvision_cache(isolated, monkeypatch):
    """When nothing is found, torchvision's download is called with root $TORCH_HOME/datasets."""
    calls = []
    from torchvision import datasets

    class FashionMNIST(datasets.FashionMNIST):   # same class name: torchvision's folder is named after it
        def download(self):
            calls.append(self.root)
            write_dataset(Path(self.raw_folder), gz=False, label_offset=7)

    monkeypatch.setattr(datasets, "FashionMNIST", FashionMNIST)
    d = fm.load_fashion_mnist(download=True)
    assert calls and Path(calls[0]) == isolated / "torch_home" / "datasets"
    assert int(d.train_y[0]) == 7 and "downloaded" in d.source
    # the next load finds it in the cache without downloading
    calls.clear()
    assert int(fm.load_fashion_mnist(download=False).train_y[0]) == 7 and not calls


def test_subset_and_cache(isolated, monkeypatch):
    src = isolated / "flat"
    write_dataset(src, n_train=40, n_test=15)
    monkeypatch.setenv("RAYSHA_DATA", str(src))
    d = fm.load_cached()
    assert fm.load_cached() is d                       # decoded once per process
    s = d.subset(10, 5)
    assert s.train_x.shape == (10, 28, 28) and s.test_y.shape == (5,)
    assert np.shares_memory(s.train_x, d.train_x)       # a view, no copy
    assert d.subset(None, 1000).test_y.shape == (15,)    # capped at what there is
    with pytest.raises(ValueError):
        d.subset(0, 5)
    shared = fm.load_shared(n_train=10, n_test=5)
    assert shared.train_x.flags.c_contiguous and not np.shares_memory(shared.train_x, d.train_x)
    np.testing.assert_array_equal(shared.train_x, d.train_x[:10])


@pytest.mark.skipif(not HAVE_REAL, reason="Fashion-MNIST not found: run `make data`")
def test_real_fashion_mnist(tmp_path, monkeypatch):
    monkeypatch.delenv("RAYSHA_DATA", raising=False)
    if HAVE_DEBIAN:   # the Debian package is read when nothing comes before it
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    d = fm.load_fashion_mnist(download=False)
    if HAVE_DEBIAN:
        assert "dataset-fashion-mnist" in d.source
    assert d.train_x.shape == (60000, 28, 28) and d.train_x.dtype == np.uint8
    assert d.test_x.shape == (10000, 28, 28) and d.test_x.dtype == np.uint8
    assert d.train_y.shape == (60000,) and d.test_y.shape == (10000,)
    assert np.bincount(d.train_y, minlength=10).tolist() == [6000] * 10
    assert np.bincount(d.test_y, minlength=10).tolist() == [1000] * 10
    assert d.train_x.max() == 255 and d.train_x.min() == 0
    assert 60 < d.train_x.mean() < 80                  # Fashion-MNIST's mean pixel is about 72.9
