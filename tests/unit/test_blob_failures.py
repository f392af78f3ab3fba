"""What happens to a data file whose commit failed: removed, unless the
commit may have taken effect (a lost connection during COMMIT) on a shared
data directory, where its intent removes it later if it did not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pails.errors import S3Error
from pails.storage.blobs import BlobStore
from pails.storage.meta import CommitOutcomeUnknown


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("failure", [S3Error("PreconditionFailed"), CommitOutcomeUnknown(), None])
def test_abort_keeps_only_what_may_be_committed(tmp_path: Path, shared: bool, failure: BaseException | None) -> None:
    store = BlobStore(str(tmp_path), fsync=False, shared=shared)
    writer = store.create()
    writer.write(b"body")
    writer.seal()
    writer.abort(failure)
    kept = shared and isinstance(failure, CommitOutcomeUnknown)
    assert os.path.exists(writer.path) == kept
    staged = store.create()
    staged.write(b"copy")
    staged.seal()
    store.discard([staged.blob_id], failure)
    assert os.path.exists(staged.path) == kept
