"""Output folders the package writes (``prepare``, ``generate_phantom``): a command replaces only what it made.

The rule that keeps a user's data safe: a command may write into a folder that does not exist or is empty, or
replace one that carries its own mark (a prepared folder's ``meta.json`` with ``"generator"``, the phantom's
``phantom.json``) and holds nothing but what the command writes (``owned_names``); any other folder is refused
with a message that names it and what is in it. The current working directory (``--out .``), a folder above it,
and a folder equal to or above the input data are never written.

``building(out, made_by_us, inputs)`` does the writing safely: the new content is built under a temporary
sibling ``<out>.ctl-partial`` (itself marked by the file ``.ctl-partial`` inside it), which replaces ``out``
only once it is complete; when an error stops the command the temporary sibling, and only it, is removed.
"""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

PARTIAL_SUFFIX = ".ctl-partial"  # the temporary sibling a folder is built in
PARTIAL_MARK = ".ctl-partial"  # the file inside it that says ctl made it (so a leftover may be removed)
OLD_SUFFIX = ".ctl-old"  # where the folder being replaced waits until the new one is in place


def _contains(folder: Path, other: Path) -> bool:
    """True when ``other`` is ``folder`` or lies below it (both resolved)."""
    return other == folder or folder in other.parents


def _listing(folder: Path, limit: int = 6) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def check_output_folder(out: Path | str, made_by_us: Callable[[Path], bool], inputs: Iterable[Path | str] = (),
                        what: str = "folder", owned_names: Iterable[str] | None = None) -> Path:
    """Refuse an ``out`` that the command must not write: the working directory or above it, the input data or
    above it, a file, a non-empty folder without the package's mark (``made_by_us(out)`` False), or a marked
    folder that also holds entries outside ``owned_names`` (what the command itself writes there; None: any).

    Returns ``out`` resolved.

    Raises:
        ValueError: naming the folder, what is in it, and what to do instead.
    """
    given = Path(out).expanduser()
    out = given.resolve()
    if _contains(out, Path.cwd().resolve()):
        raise ValueError(f"refusing to write the {what} into {given} ({out}): it is the current folder or holds "
                         f"it; give a new folder, e.g. --out {given / 'prepared' if str(given) != '.' else 'out'}")
    for source in inputs:
        source = Path(source).expanduser().resolve()
        if _contains(out, source):
            raise ValueError(f"refusing to write the {what} into {out}: it holds the input data {source}; "
                             f"choose a folder outside the data, e.g. {out.parent / (out.name + '-prepared')}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file, not a folder; choose another --out for the {what}")
    if out.is_dir() and any(out.iterdir()):
        if not made_by_us(out):
            raise ValueError(f"refusing to replace {out}: it is not empty (it holds {_listing(out)}) and was not made "
                             f"by ctl, so it may hold your own files. Choose a new or empty folder for the {what}, or "
                             f"move that folder away yourself")
        owned = None if owned_names is None else {*owned_names, PARTIAL_MARK}  # the mark: an interrupted swap
        foreign = sorted(p.name for p in out.iterdir() if owned is not None and p.name not in owned)
        if foreign:
            raise ValueError(f"refusing to replace {out}: ctl made it, but it also holds {', '.join(foreign[:6])}, "
                             f"which ctl did not write; move {'them' if len(foreign) > 1 else 'it'} out first")
    return out


def _clear_leftover(path: Path) -> None:
    """Remove ``path`` if it is a leftover of an interrupted command of ours (it holds ``PARTIAL_MARK``)."""
    if not path.exists():
        return
    if not (path / PARTIAL_MARK).is_file():
        raise ValueError(f"{path} exists and was not made by ctl; ctl needs this name for a temporary folder: "
                         f"move it away")
    shutil.rmtree(path)


@contextmanager
def building(out: Path | str, made_by_us: Callable[[Path], bool], inputs: Iterable[Path | str] = (),
             what: str = "folder", owned_names: Iterable[str] | None = None) -> Iterator[Path]:
    """Yield a fresh temporary sibling of ``out`` to write into; on success it replaces ``out``.

    ``out`` is checked first (``check_output_folder``). The old ``out`` (ours, or empty) is moved aside, the new
    folder renamed into place, then the old one removed. If the body raises, the temporary sibling is removed
    and ``out`` is left as it was.
    """
    out = check_output_folder(out, made_by_us, inputs, what, owned_names)
    tmp, old = out.with_name(out.name + PARTIAL_SUFFIX), out.with_name(out.name + OLD_SUFFIX)
    _clear_leftover(tmp)
    _clear_leftover(old)
    tmp.mkdir(parents=True)
    (tmp / PARTIAL_MARK).write_text(f"being written by process {os.getpid()}; safe to delete if it is not running\n")
    try:
        yield tmp
        (tmp / PARTIAL_MARK).unlink()
        if out.exists():
            (out / PARTIAL_MARK).write_text("being replaced\n")  # so an interruption here leaves a removable folder
            out.rename(old)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out.exists():  # the swap itself failed: put the old folder back
            old.rename(out)
            (out / PARTIAL_MARK).unlink(missing_ok=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
