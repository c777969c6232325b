"""The writes a part at a time give the bytes of the whole encoding: the temp file of an
atomic write (``atomic.write_text``), the refusal of a text UTF-8 cannot encode
(``atomic.not_encodable``, as ``UnicodeEncodeError.start`` says), the sync record's digest
(``base._text_sha256``), and a backup made from the text fix read (the file's own bytes).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envsync_hook.base import _text_sha256
from envsync_hook.files import atomic
from envsync_hook.files.backups import make_backup

#: texts with multi-byte characters and lone surrogates, where part boundaries fall anywhere
texts = st.text(alphabet=st.sampled_from(["a", "\n", "é", "\u4e2d", "\U0001f600", "\udcff"]))


@settings(max_examples=300, deadline=None)
@given(text=texts, chunk=st.integers(min_value=1, max_value=7))
def test_write_text_writes_the_encoding(
    tmp_path_factory: pytest.TempPathFactory, text: str, chunk: int
) -> None:
    try:
        whole: bytes | None = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        whole = None
        assert atomic.not_encodable(text) == exc.start
    else:
        assert atomic.not_encodable(text) is None
    if whole is None:
        return
    path = tmp_path_factory.mktemp("w") / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(atomic, "CHUNK", chunk)
            atomic.write_text(fd, text)
    finally:
        os.close(fd)
    assert path.read_bytes() == whole


@settings(max_examples=100, deadline=None)
@given(text=texts)
def test_record_digest_of_a_text(text: str) -> None:
    expected = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    assert _text_sha256(text) == expected
    big = text * 40 + "é" * 300_000 + "\udcff" + "x" * (1 << 20)  # (past a part's size)
    assert _text_sha256(big) == hashlib.sha256(big.encode("utf-8", "surrogateescape")).hexdigest()


def test_backup_from_the_text_read_has_the_files_bytes(tmp_path: Path) -> None:
    data = ("# é\r\nA=1\n" * 300_000).encode()  # (3 MB: several parts)
    env = tmp_path / ".env"
    env.write_bytes(data)
    backup = make_backup(env, tmp_path / "b", expect=data.decode())
    assert backup.read_bytes() == data
    with pytest.raises(Exception, match="run"):
        make_backup(env, tmp_path / "b", expect=data.decode() + "B=2\n")
