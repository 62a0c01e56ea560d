"""``make student``: the notebooks as handed to students, without solutions and without outputs.

Every exercise of the series is a markdown cell whose heading starts with ``### Exercise``, a code cell where the
student answers (the answer starts as ``None``, the checker then says "not answered yet"), and a code cell
tagged ``solution``. ``student_notebook`` drops the solution cells and clears every output and execution count,
so the notebook runs top to bottom as handed out. ``write_student_notebooks`` writes those copies into
``build/student/`` (instructors keep the full series in ``notebooks/``).

It never overwrites a file it did not write: the folder keeps a manifest of the files written there
(``MANIFEST``), and a notebook of the same name that is not in it (a student's own work copied in, say) stops
the command with a message instead of being replaced.

    python -m ctl.teach.student [SOURCE_DIR] [OUT_DIR]     (make student: notebooks/ -> build/student/)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat

from ctl.series import notebook_paths

SOLUTION_TAG = "solution"
EXERCISE_HEADING = "### Exercise"
MANIFEST = ".ctl-student-manifest.json"


def exercise_count(nb: nbformat.NotebookNode) -> int:
    """How many markdown cells of ``nb`` start an exercise (a heading starting with ``### Exercise``)."""
    return sum(c.cell_type == "markdown" and c.source.lstrip().startswith(EXERCISE_HEADING) for c in nb.cells)


def is_solution(cell: nbformat.NotebookNode) -> bool:
    return SOLUTION_TAG in cell.metadata.get("tags", [])


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without its solution cells, every code cell's outputs and execution count cleared, and no
    saved widget state.

    Raises:
        ValueError: when a solution cell is markdown (only code cells may be solutions), or when the notebook has
            solution cells but no ``### Exercise`` heading (a tag set by mistake would silently delete code).
    """
    cells = []
    for index, cell in enumerate(nb.cells):
        if is_solution(cell):
            if cell.cell_type != "code":
                raise ValueError(f"cell {index + 1} is tagged '{SOLUTION_TAG}' but is {cell.cell_type}: only code "
                                 f"cells can be solutions")
            continue
        cell = nbformat.from_dict(json.loads(json.dumps(cell)))  # a deep copy: the source notebook stays as it is
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    if len(cells) < len(nb.cells) and not exercise_count(nb):
        raise ValueError(f"{len(nb.cells) - len(cells)} cell(s) are tagged '{SOLUTION_TAG}' but the notebook has no "
                         f"'{EXERCISE_HEADING}' heading; untag them or add the exercise")
    metadata = {k: v for k, v in nb.metadata.items() if k != "widgets"}
    out = nbformat.v4.new_notebook(cells=cells, metadata=metadata)
    out.nbformat, out.nbformat_minor = nb.nbformat, nb.nbformat_minor
    return out


def _manifest(out_dir: Path) -> set[str]:
    path = out_dir / MANIFEST
    return set(json.loads(path.read_text())) if path.exists() else set()


def write_student_notebooks(source_dir: Path, out_dir: Path) -> list[Path]:
    """Write the student version of every ``NN_*.ipynb`` of ``source_dir`` into ``out_dir``; return their paths.

    Raises:
        FileExistsError: when ``out_dir`` holds a notebook of the same name that this function did not write.
        ValueError: from ``student_notebook``, naming the notebook.
    """
    sources = notebook_paths(Path(source_dir))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ours = _manifest(out_dir)
    foreign = [p.name for p in sources if (out_dir / p.name).exists() and p.name not in ours]
    if foreign:
        raise FileExistsError(f"{out_dir} already holds {foreign}, which `make student` did not write; move them "
                              f"elsewhere or choose another folder (nothing was written)")
    converted = {}
    for path in sources:
        try:
            converted[path.name] = student_notebook(nbformat.read(path, as_version=4))
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
    written = []
    for name, nb in converted.items():
        nbformat.write(nb, out_dir / name)
        written.append(out_dir / name)
    (out_dir / MANIFEST).write_text(json.dumps(sorted(ours | set(converted)), indent=1))
    return written


def main(argv: list[str]) -> int:
    """``python -m ctl.teach.student [SOURCE_DIR] [OUT_DIR]`` (default ``notebooks`` and ``build/student``): print what was written, or why nothing was."""
    source = Path(argv[0]) if argv else Path("notebooks")
    out = Path(argv[1]) if len(argv) > 1 else Path("build") / "student"
    try:
        written = write_student_notebooks(source, out)
    except (FileExistsError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in written:
        nb = nbformat.read(path, as_version=4)
        print(f"{path}: {exercise_count(nb)} exercises, solutions removed, outputs cleared")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
