"""Fashion-MNIST, read with torchvision's reader, found where it already lies.

The data folder is searched in this order (the first that holds the four files
wins):

1. the explicit ``data_dir`` argument (``--data-dir`` on the command line);
2. the environment variable ``RAYSHA_DATA``;
3. the torchvision cache: ``$TORCH_HOME/datasets`` and ``$TORCH_HOME``
   (``TORCH_HOME`` defaults to ``~/.cache/torch``), holding ``FashionMNIST/raw``;
4. the Debian package ``dataset-fashion-mnist``: ``/usr/share/datasets/fashion-mnist/``.

If none holds it, torchvision downloads it into ``$TORCH_HOME/datasets``; when
that fails (no network), `FashionMNISTNotFound` names every option.

A folder may be laid out as torchvision does (``<dir>/FashionMNIST/raw/``) or
hold the files directly (as the Debian package does), decoded
(``train-images-idx3-ubyte``) or gzipped (``train-images-idx3-ubyte.gz``).
Gzipped files are decompressed once into a cache folder (``RAYSHA_CACHE`` or
``~/.cache/raysha``; the source folder may be read-only and is never written)
and then parsed by ``torchvision.datasets.FashionMNIST`` itself.

`load_fashion_mnist` returns decoded ``uint8`` numpy arrays. `load_shared` is
what a tuning script passes to the runtime::

    data = load_shared()                     # decode once, on the driver
    Tuner(train_lenet, scheduler, shared_objects={"fashion_mnist": data})

The runtime puts the object into Ray's object store once; each node fetches it
once and every trial on that node reads the same numpy buffers (zero-copy),
instead of decoding the files again per trial.

No Ray import here, and torch/torchvision are imported only when data is read.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional, Union

import numpy as np

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

PathLike = Union[str, os.PathLike]


class FashionMNISTNotFound(FileNotFoundError):
    """No folder holds Fashion-MNIST and downloading it failed."""


@dataclasses.dataclass
class FashionMNISTData:
    """Decoded Fashion-MNIST: images ``uint8 [N, 28, 28]``, labels ``int64 [N]`` in 0..9."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    source: str = ""

    def subset(self, n_train: Optional[int] = None, n_test: Optional[int] = None) -> "FashionMNISTData":
        """The first `n_train` training and `n_test` test examples (None keeps all); views, no copy.

        Fashion-MNIST's files are already in random order, so a prefix keeps the
        classes close to balanced.
        """
        def cut(n, total):
            if n is None:
                return total
            n = int(n)
            if n <= 0:
                raise ValueError(f"subset sizes must be positive, got {n}")
            return min(n, total)

        a, b = cut(n_train, len(self.train_y)), cut(n_test, len(self.test_y))
        return FashionMNISTData(self.train_x[:a], self.train_y[:a], self.test_x[:b], self.test_y[:b],
                                source=self.source)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.train_x, self.train_y, self.test_x, self.test_y))

    def __repr__(self) -> str:
        return (f"FashionMNISTData(train={len(self.train_y)}, test={len(self.test_y)}, "
                f"source={self.source!r})")


# -- finding the files -----------------------------------------------------------

def torch_home() -> Path:
    return Path(os.environ.get("TORCH_HOME") or Path.home() / ".cache" / "torch")


def cache_dir() -> Path:
    return Path(os.environ.get("RAYSHA_CACHE") or Path.home() / ".cache" / "raysha")


def _files_in(folder: Path) -> Optional[dict[str, Path]]:
    """The four files in `folder` (decoded preferred over .gz), or None if any is missing."""
    found = {}
    for name in FILES:
        for candidate in (folder / name, folder / (name + ".gz")):
            if candidate.is_file():
                found[name] = candidate
                break
        else:
            return None
    return found


def find_files(folder: PathLike) -> Optional[dict[str, Path]]:
    """The four files under `folder`: torchvision's layout ``FashionMNIST/raw`` or flat."""
    folder = Path(folder).expanduser()
    for sub in (folder / "FashionMNIST" / "raw", folder / "raw", folder):
        found = _files_in(sub)
        if found:
            return found
    return None


def candidate_dirs(data_dir: Optional[PathLike] = None) -> list[tuple[str, Path]]:
    """Where Fashion-MNIST is looked for, in order, each with the reason it is searched."""
    out: list[tuple[str, Path]] = []
    if data_dir:
        out.append(("data_dir argument", Path(data_dir).expanduser()))
    env = os.environ.get("RAYSHA_DATA")
    if env:
        out.append(("RAYSHA_DATA", Path(env).expanduser()))
    th = torch_home()
    out.append(("torchvision cache", th / "datasets"))
    out.append(("torchvision cache", th))
    out.append(("Debian package dataset-fashion-mnist", DEBIAN_DIR))
    return out


def locate(data_dir: Optional[PathLike] = None) -> Optional[tuple[str, dict[str, Path]]]:
    """The first candidate folder holding all four files: (description, files), or None.

    An explicit `data_dir` (or ``RAYSHA_DATA``) that does not hold the files is an
    error, not a silent fall-through: the user asked for that folder.
    """
    for why, folder in candidate_dirs(data_dir):
        found = find_files(folder)
        if found:
            return f"{folder} ({why})", found
        if why in ("data_dir argument", "RAYSHA_DATA"):
            raise FashionMNISTNotFound(
                f"{why} points to {folder}, which holds no Fashion-MNIST files "
                f"(expected {', '.join(FILES)}, optionally .gz, directly or under FashionMNIST/raw/)")
    return None


# -- decoding -------------------------------------------------------------------

def _torchvision_root(files: dict[str, Path]) -> Path:
    """A folder `root` with ``root/FashionMNIST/raw/<decoded files>`` for torchvision.

    Where the files are already decoded in torchvision's layout, that is their own
    root. Otherwise the files are linked (decoded ones) or gunzipped (.gz) into a
    cache folder keyed by the source files' paths, sizes and mtimes, written
    atomically so concurrent processes do not see half a file.
    """
    raws = {f.parent for f in files.values()}
    if len(raws) == 1 and all(f.suffix != ".gz" for f in files.values()):
        raw = raws.pop()
        if raw.name == "raw" and raw.parent.name == "FashionMNIST":
            return raw.parent.parent
    key = hashlib.sha1()
    for name in FILES:
        f = files[name]
        st = f.stat()
        key.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns};".encode())
    root = cache_dir() / "fashion-mnist" / key.hexdigest()[:16]
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        dst = raw / name
        if dst.is_file():
            continue
        src = files[name]
        fd, tmp = tempfile.mkstemp(dir=raw, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                opener = gzip.open if src.suffix == ".gz" else open
                with opener(src, "rb") as inp:
                    shutil.copyfileobj(inp, out, 1 << 20)
            os.replace(tmp, dst)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    return root


def _read_root(root: Path) -> tuple[np.ndarray, ...]:
    from torchvision.datasets import FashionMNIST

    train = FashionMNIST(str(root), train=True, download=False)
    test = FashionMNIST(str(root), train=False, download=False)
    return (train.data.numpy(), train.targets.numpy().astype(np.int64),
            test.data.numpy(), test.targets.numpy().astype(np.int64))


def _download() -> tuple[str, Path]:
    from torchvision.datasets import FashionMNIST

    root = torch_home() / "datasets"
    FashionMNIST(str(root), train=True, download=True)
    FashionMNIST(str(root), train=False, download=True)
    return f"{root} (downloaded by torchvision)", root


def load_fashion_mnist(data_dir: Optional[PathLike] = None, download: bool = True) -> FashionMNISTData:
    """Decode Fashion-MNIST (train 60,000, test 10,000) from the first folder that holds it.

    See the module docstring for the search order. With ``download=False`` a
    missing dataset raises `FashionMNISTNotFound` instead of downloading.
    """
    hit = locate(data_dir)
    if hit is not None:
        source, files = hit
        root = _torchvision_root(files)
    else:
        searched = "\n".join(f"  - {p} ({why})" for why, p in candidate_dirs(data_dir))
        help_text = (
            "Fashion-MNIST was not found. Searched:\n" + searched + "\n"
            "Options: pass data_dir= / --data-dir, set RAYSHA_DATA to a folder holding "
            f"{', '.join(f + '.gz' for f in FILES)}, install the Debian package "
            "dataset-fashion-mnist (apt-get install dataset-fashion-mnist), "
            "or run with internet access so torchvision can download it.")
        if not download:
            raise FashionMNISTNotFound(help_text)
        try:
            source, root = _download()
        except Exception as exc:  # no network, proxy, checksum: say what to do instead
            raise FashionMNISTNotFound(help_text + f"\nDownload failed: {exc!r}") from exc
    train_x, train_y, test_x, test_y = _read_root(root)
    return FashionMNISTData(train_x, train_y, test_x, test_y, source=source)


_CACHE: dict = {}


def load_cached(data_dir: Optional[PathLike] = None) -> FashionMNISTData:
    """`load_fashion_mnist`, decoded at most once per process and folder."""
    key = (str(data_dir) if data_dir else None, os.environ.get("RAYSHA_DATA"))
    if key not in _CACHE:
        _CACHE[key] = load_fashion_mnist(data_dir)
    return _CACHE[key]


def load_shared(data_dir: Optional[PathLike] = None, n_train: Optional[int] = None,
                n_test: Optional[int] = None) -> FashionMNISTData:
    """Decode Fashion-MNIST once, on the driver, to share with every trial.

    Pass the result as ``Tuner(..., shared_objects={"fashion_mnist": data})``.
    The runtime puts it into Ray's object store once; each node fetches it once
    and its trials read the numpy arrays zero-copy, instead of each trial
    decoding the files. `LeNetTrainable` and `train_lenet` use it when present
    and load the data themselves (once per process) otherwise. The subset is
    copied so that only the rows kept travel through the object store.
    """
    data = load_cached(data_dir)
    if n_train is not None or n_test is not None:
        sub = data.subset(n_train, n_test)
        data = FashionMNISTData(*(np.array(a, copy=True, order="C") for a in
                                  (sub.train_x, sub.train_y, sub.test_x, sub.test_y)),
                                source=sub.source)
    return data


__all__ = ["FashionMNISTData", "FashionMNISTNotFound", "load_fashion_mnist", "load_cached",
           "load_shared", "locate", "find_files", "candidate_dirs", "CLASSES", "DEBIAN_DIR"]
