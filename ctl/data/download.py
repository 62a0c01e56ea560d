"""Download the public CHAOS archive in one command (``ctl download chaos``): a progress bar, resume after an
interruption (HTTP Range), a checksum check that keeps nothing wrong. BTCV needs an account: ``BTCV_STEPS``.

CHAOS (Kavur et al., Medical Image Analysis 2021) is on Zenodo, record 3431873 (doi:10.5281/zenodo.3431873,
CC BY-NC-SA 4.0), file ``CHAOS_Train_Sets.zip``. Where the numbers of ``CHAOS_TRAIN`` come from (this machine
reaches no site but PyPI, so none of them was checked against Zenodo here):

- the URL: Zenodo's file link of that record, as the public loaders of CHAOS use it;
- the size, 890,771,694 bytes, and the MD5 ``df21053002a1cc86df918a87da3b2c19``: the checksum Zenodo lists for
  the file, recorded with that size by several public projects that verified their downloads;
- the SHA-256 ``535f7d34...``: ``CHECKSUM["train"]`` in constantinpape/torch-em,
  ``torch_em/data/datasets/medical/chaos.py``, and the same value in one of those projects.

Both digests must match. A download is written to ``<name>.part`` and renamed only once verified; a ``.part``
whose content is wrong is deleted (it is ours), a finished file that is wrong is left alone and refused (it may
be the user's). ``ctl.data.archives`` then unpacks only the T2-SPIR series the package uses.
"""
from __future__ import annotations

import hashlib
import http.client
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm


@dataclass(frozen=True)
class RemoteArchive:
    """A file to download and what it must be."""

    name: str  # file name on disk
    url: str  # where it is served
    size: int  # bytes
    md5: str  # hex digest
    sha256: str  # hex digest
    source: str  # where url, size and digests come from


CHAOS_TRAIN = RemoteArchive(
    name="CHAOS_Train_Sets.zip",
    url="https://zenodo.org/records/3431873/files/CHAOS_Train_Sets.zip?download=1",
    size=890_771_694,
    md5="df21053002a1cc86df918a87da3b2c19",
    sha256="535f7d3417a0e0f0d9133fb3d962423d2a9cf3f103e4f09a3d8a1daf87d5d2fc",
    source="Zenodo record 3431873 (doi:10.5281/zenodo.3431873); digests: see ctl/data/download.py",
)

BTCV_STEPS = """\
BTCV cannot be downloaded without an account (Synapse's terms of use). Once, by hand:
  1. Create a free account at https://www.synapse.org (Register).
  2. Open the challenge page https://www.synapse.org/#!Synapse:syn3193805/wiki/217789 and accept its terms
     of use (Join / data use conditions).
  3. Download RawData.zip (Synapse id syn3379050: Files > Abdomen > RawData.zip) in the browser, or with
     pip install synapseclient and a personal access token (Synapse: Account Settings > Personal Access Tokens):
       python -c "import synapseclient as s; s.login(authToken='TOKEN').get('syn3379050', downloadLocation='{to}')"
  4. Prepare it with CHAOS straight from the archives, nothing to unpack by hand:
       ctl download chaos --to data/real/chaos
       ctl prepare --btcv {to}/RawData.zip --chaos data/real/chaos/CHAOS_Train_Sets.zip \\
           --out data/prepared/real-sifa-256 --size 256 --split sifa
     Notebooks with DATA_SOURCE = "real" (preset paper) then use data/prepared/real-sifa-256."""


class DownloadError(RuntimeError):
    """The server could not be reached or the connection broke; running the same command again resumes."""


class ChecksumMismatch(ValueError):
    """A file's size or digests differ from what the archive must be; the message names the file."""


def digests(path: Path | str, chunk: int = 1 << 22) -> tuple[int, str, str]:
    """(size in bytes, MD5, SHA-256) of ``path``, read once."""
    md5, sha256, size = hashlib.md5(), hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            md5.update(block)
            sha256.update(block)
            size += len(block)
    return size, md5.hexdigest(), sha256.hexdigest()


def verify(path: Path | str, archive: RemoteArchive) -> None:
    """Raise ``ChecksumMismatch`` unless ``path`` has ``archive``'s size, MD5 and SHA-256."""
    size, md5, sha256 = digests(path)
    if (size, md5, sha256) != (archive.size, archive.md5, archive.sha256):
        raise ChecksumMismatch(f"{path} is not {archive.name}: {size} bytes, MD5 {md5}, SHA-256 {sha256}; expected "
                               f"{archive.size} bytes, MD5 {archive.md5}, SHA-256 {archive.sha256} "
                               f"({archive.source})")


def _range_start(content_range: str | None) -> int | None:
    """The first byte of a ``Content-Range: bytes START-END/TOTAL`` header, None if absent or unreadable."""
    match = re.match(r"bytes (\d+)-", content_range or "")
    return int(match.group(1)) if match else None


def _fetch(url: str, part: Path, start: int, total: int, progress: bool, timeout: float, chunk: int) -> None:
    """Append bytes ``start..`` of ``url`` to ``part`` (all of it, from 0, if the server ignores the range)."""
    headers = {"Range": f"bytes={start}-"} if start else {}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416:  # nothing left after `start`: the part is complete, verify() decides
            return
        raise DownloadError(f"{url} answered HTTP {err.code} ({err.reason})") from None
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(f"cannot reach {url} ({getattr(err, 'reason', err)}); check the connection and "
                            f"run the same command again") from None
    with response:
        if start and (response.status != 206 or _range_start(response.headers.get("Content-Range")) != start):
            print(f"the server does not resume downloads: starting {part.name} again from byte 0")
            start = 0
        elif start:
            print(f"resuming {part.name} at byte {start:,} of {total:,}")
        got = start
        with open(part, "ab" if start else "wb") as f, \
                tqdm(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
                     desc=part.name.removesuffix(".part"), disable=not progress) as bar:
            try:
                while block := response.read(chunk):
                    f.write(block)
                    got += len(block)
                    bar.update(len(block))
            except (OSError, http.client.HTTPException) as err:
                raise DownloadError(f"the connection broke after {got:,} of {total:,} bytes ({err!r}); run the "
                                    f"same command again: it resumes from there") from None
    if got < total:
        raise DownloadError(f"the server closed the connection after {got:,} of {total:,} bytes; run the same "
                            f"command again: it resumes from there")


def download(archive: RemoteArchive, folder: Path | str, url: str | None = None, progress: bool = True,
             timeout: float = 60, chunk: int = 1 << 20) -> Path:
    """``archive`` downloaded into ``folder`` (made if needed) and verified; returns its path.

    An earlier interrupted download (``<name>.part``) is resumed. A file of that name already there is verified
    and reused, never replaced. ``url`` overrides ``archive.url`` (a mirror; the digests still decide).

    Raises:
        DownloadError: unreachable server or a broken connection (what arrived is kept for the next try).
        ChecksumMismatch: the download is wrong (its ``.part`` is deleted), or the file already there is wrong
            (it is left as it is).
    """
    folder = Path(folder)
    dest = folder / archive.name
    if dest.exists():
        try:
            verify(dest, archive)
        except ChecksumMismatch as err:
            raise ChecksumMismatch(f"{err}. It was there before this command and is left as it is: move it away "
                                   f"and run again to download it") from None
        print(f"{dest} is already there and verified")
        return dest
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f"{archive.name}.part"
    have = part.stat().st_size if part.exists() else 0
    if have > archive.size:  # longer than the file can be: not a prefix of it
        part.unlink()
        have = 0
    if have < archive.size:
        _fetch(url or archive.url, part, have, archive.size, progress, timeout, chunk)
    try:
        verify(part, archive)
    except ChecksumMismatch as err:
        part.unlink()  # ours and wrong: keep nothing wrong
        raise ChecksumMismatch(f"{err}. The download was deleted; run again to download it afresh") from None
    part.rename(dest)
    return dest
