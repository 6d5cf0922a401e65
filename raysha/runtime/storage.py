"""One experiment store: a local path or any ``pyarrow.fs`` URI, parsed once, every path confined to it.

`Storage(root)` is the only place in raysha that tells a local folder from a URI
(``file://``, ``s3://``, ``gs://``, ``hdfs://``, ...). Everything an experiment
keeps (results parts, the journal, ``experiment.json``, ``run.json``, errors,
checkpoints, the lease) is read and written through one, by paths *relative* to
its root:

* a relative path is normalised and must stay inside the root: absolute paths,
  URIs and ``..`` that climb out are refused with `PathOutsideRoot`;
* `write` replaces a file atomically: readers see the old or the new bytes,
  never half a file (a temporary name then a rename; on object stores, which
  have no rename, one PUT, which is atomic there);
* `create` writes a file only if it is absent (``O_EXCL``-like: a hard link on
  local disks; on object stores a check then a put, which two writers racing
  within milliseconds can both pass: the lease re-reads what it wrote).

A `Storage` pickles as its root (and filesystem), so the scheduler actor and the
trial actors reopen the same store.

>>> import tempfile
>>> s = Storage(tempfile.mkdtemp()).child("exp")
>>> s.write("results/a.txt", b"rows")
>>> s.read("results/a.txt"), s.list("results"), s.exists("b.txt")
(b'rows', ['a.txt'], False)
>>> s.create("once.txt", b"1"), s.create("once.txt", b"2"), s.read("once.txt")
(True, False, b'1')
>>> s.write("../elsewhere.txt", b"x")
Traceback (most recent call last):
...
raysha.runtime.storage.PathOutsideRoot: '../elsewhere.txt' leaves the experiment root ...
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import uuid
from typing import Any, Optional

#: filesystems without rename: a single PUT replaces an object atomically
_OBJECT_STORES = ("s3", "gcs", "abfs", "abfss")


class StorageError(RuntimeError):
    """The store failed (a write, read or delete did not go through); the message says what and where."""


class PathOutsideRoot(ValueError):
    """A path given to a `Storage` is absolute, a URI, or climbs out of its root with ``..``."""


def is_uri(path: str) -> bool:
    """True for ``scheme://...`` (``file://`` included), False for a plain path."""
    head, sep, _ = str(path).partition("://")
    return bool(sep) and head.replace("+", "").replace("-", "").replace(".", "").isalnum() and "/" not in head


def confine(rel: str) -> str:
    """`rel` normalised to a POSIX path inside the root (``""`` for the root itself), or `PathOutsideRoot`."""
    if not isinstance(rel, str):
        raise PathOutsideRoot(f"{rel!r} is not a relative path (a string)")
    if is_uri(rel) or rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        raise PathOutsideRoot(f"{rel!r} is absolute; only paths relative to the experiment root are allowed")
    if "\\" in rel or "\x00" in rel:
        raise PathOutsideRoot(f"{rel!r} holds a backslash or NUL; only plain relative paths are allowed")
    norm = posixpath.normpath(rel) if rel else "."
    if norm == ".." or norm.startswith("../"):
        raise PathOutsideRoot(f"{rel!r} leaves the experiment root (it climbs out with '..')")
    return "" if norm == "." else norm


class Storage:
    """A folder of files at `root` (a path or a ``pyarrow.fs`` URI), read and written by relative paths.

    Args:
        root: ``/data/exp``, ``~/raysha_results``, ``file:///data/exp``, ``s3://bucket/exp``
            (``?endpoint_override=...`` and the other options pyarrow reads from a URI work),
            ``gs://bucket/exp``, ...; a relative path is made absolute once, here.
        filesystem: a ``pyarrow.fs.FileSystem`` to use instead of parsing `root` (then `root`
            is the path inside it), as pyarrow's own functions take ``filesystem=``.
    """

    def __init__(self, root, filesystem=None):
        root = os.fspath(root)
        if not isinstance(root, str) or not root:
            raise ValueError(f"Storage: root must be a folder or a URI, got {root!r}")
        self._given_fs = filesystem
        self._fs = filesystem
        if filesystem is not None:
            self.root, self._base = root, root.rstrip("/") or "/"
            self.scheme = filesystem.type_name
        elif is_uri(root):
            self.root, self._base = root.rstrip("/") if "?" not in root else root, None
            self.scheme = root.partition("://")[0].lower()
        else:
            self.root = self._base = os.path.abspath(os.path.expanduser(root))
            self.scheme = "local"
        self.local = self.scheme in ("local", "file")
        self.object_store = self.scheme in _OBJECT_STORES or self.scheme in ("gs", "az")

    @property
    def fs(self):
        """The ``pyarrow.fs`` filesystem, opened on first use (opening an S3 URI may ask the network)."""
        if self._fs is None:
            self._open()
        return self._fs

    @property
    def base(self) -> str:
        """The root's path inside `fs`."""
        if self._base is None:
            self._open()
        return self._base

    def _open(self) -> None:
        import pyarrow.fs as pafs

        if not is_uri(self.root):
            self._fs = pafs.LocalFileSystem()
            return
        try:
            fs, base = pafs.FileSystem.from_uri(self.root)
        except Exception as e:
            raise StorageError(f"cannot open {redact(self.root)} ({type(e).__name__}: {e})") from None
        self._fs, self._base = fs, base.rstrip("/") or "/"

    @property
    def name(self) -> str:
        """The last component of the root's path (an experiment's name)."""
        path = self.root.partition("?")[0]
        return path.rstrip("/").rsplit("/", 1)[-1]

    def __reduce__(self):
        return (Storage, (self.root, self._given_fs))

    def __repr__(self) -> str:
        return f"Storage({redact(self.root)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Storage) and (self.root, self.scheme) == (other.root, other.scheme)

    def __hash__(self) -> int:
        return hash(self.root)

    # -- paths ---------------------------------------------------------------------------
    def path(self, rel: str = "") -> str:
        """The path inside the filesystem of `rel` (confined to the root)."""
        rel = confine(rel)
        return f"{self.base}/{rel}" if rel else self.base

    def uri(self, rel: str = "") -> str:
        """Where `rel` is, for people: the root as given (URI or absolute path) joined with `rel`."""
        rel = confine(rel)
        if not rel:
            return self.root
        if is_uri(self.root) and "?" in self.root:
            head, _, query = self.root.partition("?")
            return f"{head.rstrip('/')}/{rel}?{query}"
        return f"{self.root.rstrip('/')}/{rel}"

    def where(self, rel: str = "") -> str:
        """`uri` for messages: credentials in the URI (``key:secret@``, ``secret_key=``...) are hidden."""
        return redact(self.uri(rel))

    def child(self, rel: str) -> "Storage":
        """The store rooted at `rel` inside this one (an experiment inside the experiments folder)."""
        rel = confine(rel)
        if not rel:
            return self
        if self._given_fs is not None:
            return Storage(self.path(rel), self._given_fs)
        return Storage(self.uri(rel))

    def relative(self, full: str) -> str:
        """`full` (an absolute path, a URI, or a path of this filesystem) as a path relative to the root.

        Raises `PathOutsideRoot` when it is not under the root.
        """
        full = str(full)
        if full == self.root or full.rstrip("/") == self.base:
            return ""
        head = self.root.partition("?")[0].rstrip("/") + "/"
        for prefix in (head, self.base.rstrip("/") + "/"):
            if full.partition("?")[0].startswith(prefix):
                return confine(full.partition("?")[0][len(prefix):])
        raise PathOutsideRoot(f"{full!r} is not inside the experiment root {self.root!r}")

    # -- files -----------------------------------------------------------------------------
    def _do(self, what: str, rel: str, fn, *args):
        try:
            return fn(*args)
        except (FileNotFoundError, PathOutsideRoot):
            raise
        except Exception as e:
            raise StorageError(f"{what} {self.where(rel)} failed: {type(e).__name__}: {e}") from e

    def read(self, rel: str) -> bytes:
        """The bytes of `rel`; `FileNotFoundError` when it is absent, `StorageError` when reading fails."""
        path = self.path(rel)

        def go():
            with self.fs.open_input_stream(path) as f:
                return f.read()
        return self._do("reading", rel, go)

    def read_json(self, rel: str) -> Optional[Any]:
        """`rel` parsed as JSON, or None when it is absent (`ValueError` naming the file when it is not JSON)."""
        try:
            data = self.read(rel)
        except FileNotFoundError:
            return None
        try:
            return json.loads(data)
        except ValueError as e:
            raise ValueError(f"{self.where(rel)} is not valid JSON ({e})") from None

    def write(self, rel: str, data: bytes) -> None:
        """Replace `rel` with `data` atomically (folders are made as needed)."""
        path = self.path(rel)

        def go():
            self._make_parent(path)
            if self.object_store:
                self._put(path, data)
                return
            tmp = f"{posixpath.dirname(path)}/.{posixpath.basename(path)}.tmp-{uuid.uuid4().hex[:8]}"
            try:
                self._put(tmp, data)
                self.fs.move(tmp, path)
            except BaseException:
                _quietly(self.fs.delete_file, tmp)
                raise
        self._do("writing", rel, go)

    def write_json(self, rel: str, obj: Any, **kw) -> None:
        self.write(rel, (json.dumps(obj, **kw) + "\n").encode())

    def create(self, rel: str, data: bytes) -> bool:
        """Write `rel` only if it does not exist; False (and nothing written) when it does."""
        path = self.path(rel)

        def go():
            self._make_parent(path)
            if self.local:
                tmp = f"{posixpath.dirname(path)}/.{posixpath.basename(path)}.new-{uuid.uuid4().hex[:8]}"
                self._put(tmp, data)
                try:
                    os.link(tmp, path)    # atomic, fails when the name exists (also on NFS)
                    return True
                except FileExistsError:
                    return False
                finally:
                    _quietly(os.unlink, tmp)
            if self.exists(rel):
                return False
            self._put(path, data)
            return True
        return self._do("creating", rel, go)

    def exists(self, rel: str) -> bool:
        import pyarrow.fs as pafs

        path = self.path(rel)
        return self._do("looking up", rel, lambda: self.fs.get_file_info(path).type != pafs.FileType.NotFound)

    def is_file(self, rel: str) -> bool:
        import pyarrow.fs as pafs

        path = self.path(rel)
        return self._do("looking up", rel, lambda: self.fs.get_file_info(path).type == pafs.FileType.File)

    def size(self, rel: str) -> Optional[int]:
        """Bytes in `rel`, None when it is absent."""
        import pyarrow.fs as pafs

        path = self.path(rel)
        info = self._do("looking up", rel, lambda: self.fs.get_file_info(path))
        return None if info.type == pafs.FileType.NotFound else info.size

    def delete(self, rel: str) -> bool:
        """Delete the file `rel`; False when it was not there."""
        path = self.path(rel)

        def go():
            try:
                self.fs.delete_file(path)
                return True
            except FileNotFoundError:
                return False
        return self._do("deleting", rel, go)

    def delete_tree(self, rel: str) -> None:
        """Delete the folder `rel` and everything in it (nothing happens when it is absent)."""
        rel = confine(rel)
        if not rel:
            raise PathOutsideRoot("delete_tree('') would delete the whole root; name a folder inside it")
        path = self.path(rel)
        if self.exists(rel):
            self._do("deleting", rel, self.fs.delete_dir, path)

    def list(self, rel: str = "", dirs: bool = False) -> list[str]:
        """Names of the files (or, with ``dirs=True``, the folders) directly in `rel`, sorted; [] when absent."""
        import pyarrow.fs as pafs

        path = self.path(rel)
        want = pafs.FileType.Directory if dirs else pafs.FileType.File
        infos = self._do("listing", rel,
                         lambda: self.fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)))
        return sorted(i.base_name for i in infos if i.type == want)

    def walk(self, rel: str = "") -> list[str]:
        """Every file under `rel`, as paths relative to the root, sorted."""
        import pyarrow.fs as pafs

        path = self.path(rel)
        infos = self._do("listing", rel, lambda: self.fs.get_file_info(
            pafs.FileSelector(path, allow_not_found=True, recursive=True)))
        return sorted(self.relative(i.path) for i in infos if i.type == pafs.FileType.File)

    def _put(self, path: str, data: bytes) -> None:
        with self.fs.open_output_stream(path) as f:
            f.write(data)

    def _make_parent(self, path: str) -> None:
        if not self.object_store:
            self.fs.create_dir(posixpath.dirname(path), recursive=True)


_SECRET_QUERY = re.compile(r"((?:secret|access|session)_(?:key|token)|token|password)=[^&]*", re.I)


def redact(uri: str) -> str:
    """`uri` without the credentials a pyarrow URI may carry (``s3://key:secret@bucket``, ``secret_key=``)."""
    uri = re.sub(r"^([A-Za-z][\w+.-]*://)[^/@]*@", r"\1***@", str(uri))
    return _SECRET_QUERY.sub(lambda m: m.group(1) + "=***", uri)


def _quietly(fn, *args) -> None:
    try:
        fn(*args)
    except Exception:
        pass


__all__ = ["Storage", "StorageError", "PathOutsideRoot", "confine", "is_uri", "redact"]
