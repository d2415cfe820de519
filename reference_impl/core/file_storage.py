"""Local file storage: ``<root>/<collectionId>/<recordId>/<filename>``, as PocketBase's
``pb_data/storage`` (S3 is out of scope).

Writes happen before the row is committed (a failed write fails the request); a failed
commit removes what was written (:meth:`FileStorage.discard`); replaced, removed and
deleted records' files go only after the commit, so a rolled-back request loses nothing.
Names are checked to be plain file names before any path is built from them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from reference_impl.core.files import Upload

log = logging.getLogger("parity.files")


def _plain(name: str) -> bool:
    """A single path element: no separators or NUL, not empty, not a dot entry."""
    return bool(name) and not any(c in name for c in "/\\\x00") and name not in (".", "..")


class FileStorage:
    def __init__(self, root: Path | None = None):
        self._root = root

    def _dir(self, collection_id: str, record_id: str, *, create: bool = False) -> Path | None:
        if not (_plain(collection_id) and _plain(record_id)):
            return None
        if self._root is None:
            if not create:
                return None  # nothing was ever stored
            # An App built without a data dir (tests, embedding) stores under a private
            # temporary directory made on the first upload.
            self._root = Path(tempfile.mkdtemp(prefix="parity-storage-"))
        return self._root / collection_id / record_id

    def path(self, collection_id: str, record_id: str, name: str) -> Path | None:
        """The stored file, or ``None`` when it does not exist."""
        base = self._dir(collection_id, record_id)
        if base is None or not _plain(name):
            return None
        path = base / name
        return path if path.is_file() else None

    def save(self, collection_id: str, record_id: str, uploads: Iterable[Upload]) -> None:
        uploads = list(uploads)
        base = self._dir(collection_id, record_id, create=bool(uploads))
        if not uploads or base is None:
            return
        base.mkdir(parents=True, exist_ok=True)
        for upload in uploads:
            if not _plain(upload.name):
                continue
            # Write then rename, so a concurrent download never sees half a file.
            tmp = base / f".{upload.name}.part"
            tmp.write_bytes(upload.content)
            os.replace(tmp, base / upload.name)

    def delete(self, collection_id: str, record_id: str, names: Iterable[str]) -> None:
        """Remove files by name; missing ones are fine, failures are logged (not raised:
        the row is already committed, as PocketBase only warns)."""
        base = self._dir(collection_id, record_id)
        if base is None:
            return
        for name in names:
            if not _plain(name):
                continue
            try:
                (base / name).unlink(missing_ok=True)
            except OSError:
                log.warning("could not delete %s/%s/%s", collection_id, record_id, name)

    def discard(self, collection_id: str, record_id: str, uploads: Iterable[Upload]) -> None:
        """Undo :meth:`save` after a failed write of the row (and drop the record's
        directory if that left it empty, as PocketBase does after a failed create)."""
        self.delete(collection_id, record_id, [u.name for u in uploads])
        base = self._dir(collection_id, record_id)
        if base is not None:
            with contextlib.suppress(OSError):
                base.rmdir()  # only succeeds when empty

    def delete_record(self, collection_id: str, record_id: str) -> None:
        base = self._dir(collection_id, record_id)
        if base is not None and base.is_dir():
            shutil.rmtree(base, ignore_errors=True)

    def delete_collection(self, collection_id: str) -> None:
        if self._root is not None and _plain(collection_id):
            shutil.rmtree(self._root / collection_id, ignore_errors=True)
