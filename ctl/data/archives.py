"""BTCV and CHAOS read straight from their zip archives as downloaded, extracting only the files that are used.

- ``RawData.zip`` (BTCV): ``.../Training/img/imgNNNN.nii.gz`` and ``.../Training/label/labelNNNN.nii.gz``;
  the unlabelled ``Testing/`` volumes are left in the archive.
- ``CHAOS_Train_Sets.zip``: ``.../MR/<id>/T2SPIR/DICOM_anon/*.dcm`` and ``.../MR/<id>/T2SPIR/Ground/*.png``;
  the CT and T1-DUAL series (most of its 890 MB) are left in the archive.

``unpacked`` gives a folder for either an archive (its used members, extracted into a temporary folder that is
removed afterwards: ``ctl prepare --btcv RawData.zip --chaos CHAOS_Train_Sets.zip``) or a folder (itself).
``unpack_used`` extracts the used members for good (``ctl download chaos``), refusing to write into what it did
not make. Member names that would leave the target folder (absolute, or with ``..``) are refused.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterator

USED_MEMBERS = {
    "btcv": re.compile(r"(?:^|/)(?:img/img\d+\.nii\.gz|label/label\d+\.nii\.gz)$"),
    "chaos": re.compile(r"(?:^|/)MR/\d+/T2SPIR/(?:DICOM_anon/[^/]+\.dcm|Ground/[^/]+\.png)$", re.IGNORECASE),
}
WHAT = {"btcv": "BTCV img/imgNNNN.nii.gz and label/labelNNNN.nii.gz files (RawData.zip)",
        "chaos": "CHAOS MR/<id>/T2SPIR/DICOM_anon/*.dcm and .../Ground/*.png files (CHAOS_Train_Sets.zip)"}


def is_zip(path: Path | str) -> bool:
    """True when ``path`` is a zip archive (by content, not by name)."""
    return Path(path).is_file() and zipfile.is_zipfile(path)


def _check_kind(kind: str) -> None:
    if kind not in USED_MEMBERS:
        raise ValueError(f"kind must be one of {sorted(USED_MEMBERS)}, got {kind!r}")


def used_members(archive: Path | str, kind: str) -> list[zipfile.ZipInfo]:
    """The members of ``archive`` that ``kind`` ("btcv" or "chaos") uses, in archive order.

    Raises:
        ValueError: not a readable zip archive, an unsafe member name, or no used member at all (naming what
            was expected).
    """
    _check_kind(kind)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"{archive} is not a readable zip archive ({err})") from None
    used = [m for m in members if not m.is_dir() and USED_MEMBERS[kind].search(m.filename)
            and not (kind == "btcv" and "Testing" in PurePosixPath(m.filename).parts)]
    for member in used:
        path = PurePosixPath(member.filename)
        if path.is_absolute() or ".." in path.parts:
            raise ValueError(f"{archive}: member {member.filename!r} would be written outside the target folder")
    if not used:
        raise ValueError(f"{archive} holds no {WHAT[kind]}; is it the right archive?")
    return used



def extract_used(archive: Path | str, kind: str, dest: Path | str) -> list[Path]:
    """Extract the members ``kind`` uses into ``dest``, keeping their paths; returns the files written.

    Raises:
        ValueError: as ``used_members``, or a member that cannot be read (a damaged archive), naming it.
    """
    dest = Path(dest)
    written = []
    with zipfile.ZipFile(archive) as zf:
        for member in used_members(archive, kind):
            target = dest / member.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(member) as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
            except (zipfile.BadZipFile, OSError, EOFError) as err:
                raise ValueError(f"{archive}: cannot read {member.filename} ({err}); the archive is damaged, "
                                 f"download it again") from None
            written.append(target)
    return written


@contextmanager
def unpacked(path: Path | str, kind: str, scratch: Path | str | None = None) -> Iterator[Path]:
    """``path`` itself when it is a folder; for a zip archive, a temporary folder inside ``scratch`` (default:
    the archive's folder) holding the members ``kind`` uses, removed when the block ends."""
    _check_kind(kind)
    if not is_zip(path):
        yield Path(path)
        return
    scratch = Path(scratch) if scratch is not None else Path(path).parent
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".ctl-{kind}-", dir=scratch) as tmp:
        extract_used(path, kind, tmp)
        yield Path(tmp)


def unpack_used(archive: Path | str, kind: str, to: Path | str) -> Path:
    """Extract the members ``kind`` uses into ``to`` for good, atomically per top-level folder; returns ``to``.

    When the top-level folders are already there with every used member at its size, nothing is written.

    Raises:
        FileExistsError: a top-level folder is there but differs from the archive (not made by this, or
            changed): it is left alone.
    """
    to = Path(to)
    members = used_members(archive, kind)
    tops = sorted({PurePosixPath(m.filename).parts[0] for m in members})
    complete = all((to / m.filename).is_file() and (to / m.filename).stat().st_size == m.file_size for m in members)
    if complete:
        print(f"{len(members)} files of {Path(archive).name} already unpacked in {to}")
        return to
    there = [top for top in tops if (to / top).exists()]
    if there:
        raise FileExistsError(f"{[str(to / t) for t in there]} exist but do not hold the {len(members)} files "
                              f"of {Path(archive).name} that are used; they are left as they are: move them away "
                              f"(or choose another folder) and run again")
    to.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".ctl-unpack-{kind}-", dir=to) as tmp:
        extract_used(archive, kind, tmp)
        for top in tops:
            (Path(tmp) / top).rename(to / top)
    print(f"unpacked {len(members)} files of {Path(archive).name} ({WHAT[kind].split(' (')[0]}) into {to}")
    return to
