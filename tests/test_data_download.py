"""ctl.data.download against a real HTTP server on 127.0.0.1 serving a zip made from the phantom: a download
interrupted and resumed with an HTTP Range request gives the exact file; a server that ignores ranges is
downloaded again from byte 0; a wrong checksum is refused and nothing wrong is kept; a file that was there
before is verified, never replaced."""
import dataclasses
import hashlib

import pytest

from ctl.data.download import (BTCV_STEPS, CHAOS_TRAIN, ChecksumMismatch, DownloadError, RemoteArchive, digests,
                               download, verify)


def _archive(data: bytes, base: str, name: str = "CHAOS_Train_Sets.zip") -> RemoteArchive:
    return RemoteArchive(name=name, url=f"{base}/records/1/files/{name}?download=1", size=len(data),
                         md5=hashlib.md5(data).hexdigest(), sha256=hashlib.sha256(data).hexdigest(), source="test")


@pytest.fixture
def served(phantom_zips, http_server):
    """The phantom's CHAOS zip on the test server, and its RemoteArchive."""
    base, state = http_server
    data = phantom_zips[1].read_bytes()
    state["files"]["records/1/files/CHAOS_Train_Sets.zip"] = data
    return data, _archive(data, base), state


def test_digests_of_a_known_file(tmp_path):
    (tmp_path / "abc").write_bytes(b"abc")
    assert digests(tmp_path / "abc") == (3, "900150983cd24fb0d6963f7d28e17f72",
                                         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_an_uninterrupted_download(served, tmp_path):
    data, archive, state = served
    path = download(archive, tmp_path / "chaos", progress=False, chunk=4096)
    assert path == tmp_path / "chaos" / "CHAOS_Train_Sets.zip" and path.read_bytes() == data
    assert state["ranges"] == [None] and sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_an_interrupted_download_resumes_where_it_broke(served, tmp_path):
    data, archive, state = served
    state["cut_after"] = 100_000
    with pytest.raises(DownloadError, match="after 100,000 of .* bytes; run the same command again"):
        download(archive, tmp_path, progress=False, chunk=4096)
    part = tmp_path / "CHAOS_Train_Sets.zip.part"
    assert part.read_bytes() == data[:100_000] and not (tmp_path / "CHAOS_Train_Sets.zip").exists()
    path = download(archive, tmp_path, progress=False, chunk=4096)
    assert state["ranges"] == [None, "bytes=100000-"]
    assert path.read_bytes() == data and not part.exists()


def test_a_server_that_ignores_ranges_is_read_again_from_the_start(served, tmp_path, capsys):
    data, archive, state = served
    (tmp_path / "CHAOS_Train_Sets.zip.part").write_bytes(data[:5000])
    state["ignore_range"] = True
    assert download(archive, tmp_path, progress=False).read_bytes() == data
    assert state["ranges"] == ["bytes=5000-"]
    assert "starting CHAOS_Train_Sets.zip.part again from byte 0" in capsys.readouterr().out


def test_a_complete_part_is_verified_without_downloading_again(served, tmp_path):
    data, archive, state = served
    (tmp_path / "CHAOS_Train_Sets.zip.part").write_bytes(data)
    assert download(archive, tmp_path, progress=False).read_bytes() == data
    assert state["ranges"] == []


def test_a_wrong_checksum_is_refused_and_nothing_wrong_is_kept(served, tmp_path):
    data, archive, _ = served
    wrong = dataclasses.replace(archive, sha256="0" * 64)
    with pytest.raises(ChecksumMismatch, match="SHA-256 .* expected .*0000000000.* The download was deleted"):
        download(wrong, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []
    corrupt = bytearray(data)
    corrupt[-10] ^= 0xFF  # same size, one byte changed: only the digests can tell
    _, _, state = served
    state["files"]["records/1/files/CHAOS_Train_Sets.zip"] = bytes(corrupt)
    with pytest.raises(ChecksumMismatch, match="MD5"):
        download(archive, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_was_there_is_verified_and_never_replaced(served, tmp_path, capsys):
    data, archive, state = served
    mine = tmp_path / "CHAOS_Train_Sets.zip"
    mine.write_bytes(b"my own notes")
    with pytest.raises(ChecksumMismatch, match="was there before this command and is left as it is"):
        download(archive, tmp_path, progress=False)
    assert mine.read_bytes() == b"my own notes" and state["ranges"] == []
    mine.write_bytes(data)
    assert download(archive, tmp_path, progress=False) == mine
    assert "already there and verified" in capsys.readouterr().out and state["ranges"] == []


def test_unreachable_and_missing_files_are_explained(served, tmp_path):
    _, archive, _ = served
    missing = dataclasses.replace(archive, url=archive.url.replace("CHAOS_Train", "nothing"))
    with pytest.raises(DownloadError, match="answered HTTP 404"):
        download(missing, tmp_path, progress=False)
    closed = dataclasses.replace(archive, url="http://127.0.0.1:9/CHAOS_Train_Sets.zip")  # the discard port
    with pytest.raises(DownloadError, match="cannot reach http://127.0.0.1:9/"):
        download(closed, tmp_path, progress=False, timeout=5)


def test_verify_and_the_chaos_record():
    assert CHAOS_TRAIN.size == 890_771_694 and len(CHAOS_TRAIN.md5) == 32 and len(CHAOS_TRAIN.sha256) == 64
    assert "zenodo.org/records/3431873/files/CHAOS_Train_Sets.zip" in CHAOS_TRAIN.url
    assert "syn3379050" in BTCV_STEPS and "ctl prepare --btcv {to}/RawData.zip" in BTCV_STEPS


def test_verify_names_the_file(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"abc")
    with pytest.raises(ChecksumMismatch, match=r"x.zip is not CHAOS_Train_Sets.zip: 3 bytes"):
        verify(tmp_path / "x.zip", CHAOS_TRAIN)
