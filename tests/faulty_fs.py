"""A fault-injecting ``pyarrow.fs`` filesystem for tests: a local folder whose writes fail while it is broken."""

import threading

import pyarrow.fs as pafs


class FaultyHandler(pafs.FileSystemHandler):
    """Local files, but every write (and rename, delete) raises ``OSError(ENOSPC)`` while ``broken`` is set.

    ``broken`` is a `threading.Event`; ``failures`` counts the writes refused.
    """

    def __init__(self):
        self.local = pafs.LocalFileSystem()
        self.broken = threading.Event()
        self.failures = 0

    def _check(self, path):
        if self.broken.is_set():
            self.failures += 1
            raise OSError(28, "No space left on device (injected)", path)

    def get_type_name(self):
        return "faulty"

    def equals(self, other):
        return other is self

    def normalize_path(self, path):
        return path

    def get_file_info(self, paths):
        return self.local.get_file_info(paths)

    def get_file_info_selector(self, selector):
        return self.local.get_file_info(selector)

    def create_dir(self, path, recursive):
        self._check(path)
        self.local.create_dir(path, recursive=recursive)

    def delete_dir(self, path):
        self._check(path)
        self.local.delete_dir(path)

    def delete_dir_contents(self, path, missing_dir_ok=False):
        self._check(path)
        self.local.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self):
        raise OSError("not allowed")

    def delete_file(self, path):
        self._check(path)
        self.local.delete_file(path)

    def move(self, src, dest):
        self._check(dest)
        self.local.move(src, dest)

    def copy_file(self, src, dest):
        self._check(dest)
        self.local.copy_file(src, dest)

    def open_input_stream(self, path):
        return self.local.open_input_stream(path)

    def open_input_file(self, path):
        return self.local.open_input_file(path)

    def open_output_stream(self, path, metadata):
        self._check(path)
        return self.local.open_output_stream(path)

    def open_append_stream(self, path, metadata):
        self._check(path)
        return self.local.open_append_stream(path)


def faulty_storage(root):
    """(Storage on a faulty local filesystem at `root`, its handler)."""
    from raysha.runtime.storage import Storage

    handler = FaultyHandler()
    return Storage(str(root), filesystem=pafs.PyFileSystem(handler)), handler
