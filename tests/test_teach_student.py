"""ctl.teach.student (make student): on a tiny notebook made here, solution cells go, outputs are cleared, the
source is untouched; a file the command did not write is never replaced; the real series converts."""
import json
from pathlib import Path

import nbformat
import pytest

from ctl.series import notebook_paths
from ctl.teach.student import MANIFEST, exercise_count, main, student_notebook, write_student_notebooks

md, cc = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def tiny_notebook() -> nbformat.NotebookNode:
    answer = cc("x = None\ncheck(x)", execution_count=2,
                outputs=[nbformat.v4.new_output("stream", name="stdout", text="Not answered yet: ...\n")])
    solution = cc("x = 42\ncheck(x)", execution_count=3)
    solution.metadata["tags"] = ["solution"]
    nb = nbformat.v4.new_notebook(cells=[
        md("# 07 · Tiny"), cc("import math", execution_count=1), md("### Exercise 7.1: the answer"), answer,
        solution, md("## Next section"), cc("print(math.pi)", execution_count=4)])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_solutions_are_removed_and_outputs_cleared_and_the_source_kept():
    nb = tiny_notebook()
    student = student_notebook(nb)
    assert [c.source for c in student.cells] == ["# 07 · Tiny", "import math", "### Exercise 7.1: the answer",
                                                 "x = None\ncheck(x)", "## Next section", "print(math.pi)"]
    code = [c for c in student.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "widgets" not in student.metadata and student.metadata["kernelspec"]["name"] == "python3"
    assert len(nb.cells) == 7 and nb.cells[3].outputs  # the instructor's notebook is unchanged
    assert exercise_count(student) == exercise_count(nb) == 1
    nbformat.validate(student)


def test_a_misplaced_solution_tag_stops_with_a_message():
    nb = tiny_notebook()
    nb.cells[2].metadata["tags"] = ["solution"]  # the exercise's markdown
    with pytest.raises(ValueError, match="cell 3 is tagged 'solution' but is markdown"):
        student_notebook(nb)
    nb = tiny_notebook()
    nb.cells[2].source = "### Question"  # a solution without any exercise heading
    with pytest.raises(ValueError, match="no '### Exercise' heading"):
        student_notebook(nb)


def test_the_folder_is_written_and_rewritten_but_a_foreign_notebook_is_never_replaced(tmp_path):
    source, out = tmp_path / "notebooks", tmp_path / "student"
    source.mkdir()
    nbformat.write(tiny_notebook(), source / "07_tiny.ipynb")
    written = write_student_notebooks(source, out)
    assert [p.name for p in written] == ["07_tiny.ipynb"]
    assert json.loads((out / MANIFEST).read_text()) == ["07_tiny.ipynb"]
    assert len(nbformat.read(out / "07_tiny.ipynb", as_version=4).cells) == 6
    write_student_notebooks(source, out)  # its own file: replaced without a word
    nbformat.write(tiny_notebook(), source / "08_other.ipynb")
    (out / "08_other.ipynb").write_text("a student's own work")
    with pytest.raises(FileExistsError, match=r"\['08_other.ipynb'\], which `make student` did not write"):
        write_student_notebooks(source, out)
    assert (out / "08_other.ipynb").read_text() == "a student's own work"
    assert main([str(source), str(out)]) == 1  # the command line reports it and exits 1


def test_the_series_converts_and_every_notebook_keeps_its_exercises(tmp_path):
    written = write_student_notebooks(NOTEBOOK_DIR, tmp_path)
    assert [p.name for p in written] == [p.name for p in notebook_paths(NOTEBOOK_DIR)]
    for path in written:
        nb = nbformat.read(path, as_version=4)
        original = nbformat.read(NOTEBOOK_DIR / path.name, as_version=4)
        assert exercise_count(nb) == exercise_count(original)
        assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
