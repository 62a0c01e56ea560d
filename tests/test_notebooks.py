"""Every notebook: title, Colab badge and setup cell, a plain `parameters` cell, the shared setup call, a paired
jupytext script, small committed outputs from one in-order run, every figure at least 480 px on its long side, a
measured time line; notebooks 01-05 have self-checking exercises whose solutions nothing else depends on; widgets
come with a static frame. Each checker is tested on bad notebooks made here."""
import ast
import base64
import io
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
from PIL import Image

import ctl.teach.exercises as exercises
import ctl.teach.exercises_results as exercises_results

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PARAMETERS = ["PRESET", "DATA_SOURCE", "DATA_DIR", "RUN_DIR", "SEED"]
COLAB_URL = "https://colab.research.google.com/github/ctl-teaching/ctl/blob/main/notebooks/"
MAX_NOTEBOOK_BYTES = 2_000_000
MAX_IMAGE_BYTES = 200_000  # base64 text of one image output
MIN_FIGURE_PIXELS = 480  # the long side of every figure a notebook shows
MIN_EXERCISES = 2  # per notebook 01-05


def notebook_problems(nb: nbformat.NotebookNode, stem: str) -> list[str]:
    """What is wrong with notebook ``stem`` (empty when nothing is)."""
    problems = []
    cells = nb.cells
    if not cells or cells[0].cell_type != "markdown" or not cells[0].source.startswith(f"# {stem[:2]} "):
        problems.append(f"first cell must be a markdown title starting with '# {stem[:2]} '")
    elif f"{COLAB_URL}{stem}.ipynb" not in cells[0].source:
        problems.append("first cell has no 'Open in Colab' badge pointing at this notebook")
    elif "teaches" not in cells[0].source:
        problems.append("first cell does not say what the notebook teaches")
    code = [c for c in cells if c.cell_type == "code"]
    tagged = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    if len(tagged) != 1:
        return problems + [f"needs exactly one cell tagged 'parameters', found {len(tagged)}"]
    p = tagged[0]
    if p == 0 or '"google.colab" in sys.modules' not in code[p - 1].source:
        problems.append("the code cell before 'parameters' must be the Colab setup cell")
    assigned = []
    for node in ast.parse(code[p].source).body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)):
            problems.append(f"parameters cell line {node.lineno} is not a plain `NAME = value`")
            continue
        assigned.append(node.targets[0].id)
    if assigned != PARAMETERS:
        problems.append(f"parameters cell assigns {assigned}, expected {PARAMETERS}")
    if p + 1 >= len(code) or f'setup_notebook("{stem}", PRESET, DATA_SOURCE' not in code[p + 1].source:
        problems.append(f'the cell after parameters must call setup_notebook("{stem}", PRESET, DATA_SOURCE, ...)')
    for c in code:
        for line in c.source.splitlines():
            if ("'cuda'" in line or '"cuda"' in line) and not line.lstrip().startswith("#"):
                problems.append(f"hard-coded cuda device: {line.strip()}")
    counts = [c.get("execution_count") for c in code]
    if any(counts) and counts != list(range(1, len(code) + 1)):
        problems.append(f"outputs are not from one in-order run on a fresh kernel: execution counts {counts}")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_structure(path):
    assert notebook_problems(nbformat.read(path, as_version=4), path.stem) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_paired_with_its_script(path):
    script = path.with_suffix(".py")
    assert script.exists(), f"{script.name} missing: run `jupytext --sync {path.name}`"
    from_script = [c.source for c in jupytext.read(script).cells]
    from_notebook = [c.source for c in nbformat.read(path, as_version=4).cells]
    assert from_script == from_notebook, f"{path.name} and {script.name} differ: run `make sync`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_are_small(path):
    assert path.stat().st_size <= MAX_NOTEBOOK_BYTES
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            for mime, data in output.get("data", {}).items():
                if mime.startswith("image/"):
                    assert len(data) <= MAX_IMAGE_BYTES, f"an image output of {len(data)} bytes in {path.name}"


# --- the checker catches what it must ------------------------------------------------------------------------
def _good_notebook(stem="07_example"):
    md = nbformat.v4.new_markdown_cell
    cc = nbformat.v4.new_code_cell
    params = cc('PRESET = "cpu"\nDATA_SOURCE = "phantom"\nDATA_DIR = "../data"\nRUN_DIR = "../runs"\nSEED = 0')
    params.metadata["tags"] = ["parameters"]
    return nbformat.v4.new_notebook(cells=[
        md(f"# 07 · Example\n[badge]({COLAB_URL}{stem}.ipynb)\nWhat this notebook teaches: x"),
        cc('import sys\nif "google.colab" in sys.modules:\n    pass'),
        params,
        cc(f'ctx = setup_notebook("{stem}", PRESET, DATA_SOURCE, DATA_DIR, RUN_DIR, SEED)'),
    ])


def test_checker_accepts_a_good_notebook():
    assert notebook_problems(_good_notebook(), "07_example") == []


def test_checker_reports_a_missing_parameters_cell():
    nb = _good_notebook()
    nb.cells[2].metadata["tags"] = []
    assert notebook_problems(nb, "07_example") == ["needs exactly one cell tagged 'parameters', found 0"]


def test_checker_reports_computed_parameters_and_hard_coded_cuda():
    nb = _good_notebook()
    nb.cells[2].source += "\nSIZE = 2 * 128"
    nb.cells[3].source += '\ndevice = torch.device("cuda")'
    problems = notebook_problems(nb, "07_example")
    assert any("line 6 is not a plain" in p for p in problems)
    assert any("hard-coded cuda" in p for p in problems)


def test_checker_reports_out_of_order_outputs():
    nb = _good_notebook()
    for count, cell in zip([1, 3, 2], [c for c in nb.cells if c.cell_type == "code"]):
        cell.execution_count = count
    assert any("in-order run" in p for p in notebook_problems(nb, "07_example"))


# --- exercises, solutions, figures, widgets ------------------------------------------------------------------
CHECK_CALL = re.compile(r"\b(check_\w+)\(")


def is_solution(cell) -> bool:
    return "solution" in cell.metadata.get("tags", [])


def exercise_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Each markdown cell starting with ``### Exercise`` is followed by the student's code cell (an answer set to
    None and a call of a checker) and then by a code cell tagged ``solution`` calling the same checker; every
    solution cell belongs to such an exercise; every checker called exists in ``ctl.teach``."""
    problems, cells = [], nb.cells
    owned = set()
    for i, cell in enumerate(cells):
        if cell.cell_type != "markdown" or not cell.source.lstrip().startswith("### Exercise"):
            continue
        title = cell.source.splitlines()[0]
        answer, solution = (cells[i + 1] if i + 1 < len(cells) else None), (cells[i + 2] if i + 2 < len(cells) else None)
        if answer is None or answer.cell_type != "code" or is_solution(answer):
            problems.append(f"{title}: the next cell must be the student's code cell")
            continue
        checks = CHECK_CALL.findall(answer.source)
        if not checks or "= None" not in answer.source:
            problems.append(f"{title}: the student's cell must set an answer to None and call a checker")
        if solution is None or solution.cell_type != "code" or not is_solution(solution):
            problems.append(f"{title}: the cell after the student's must be a code cell tagged 'solution'")
            continue
        owned.add(i + 2)
        if checks and not set(checks) <= set(CHECK_CALL.findall(solution.source)):
            problems.append(f"{title}: the solution does not call {sorted(set(checks))}")
        for name in set(checks) | set(CHECK_CALL.findall(solution.source)):
            if not hasattr(exercises, name) and not hasattr(exercises_results, name):
                problems.append(f"{title}: {name} is not a checker of ctl.teach.exercises or exercises_results")
    stray = [i + 1 for i, c in enumerate(cells) if is_solution(c) and i not in owned]
    if stray:
        problems.append(f"cells {stray} are tagged 'solution' but follow no exercise")
    return problems


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names a cell binds, names it reads) at any depth; IPython magics and shell lines are skipped."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    bound, read = set(), set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound, read


def solution_leaks(nb: nbformat.NotebookNode) -> list[str]:
    """Names that only solution cells bind but a later cell reads: such a notebook fails once `make student` has
    removed the solutions."""
    problems, bound_outside, bound_by_solutions = [], set(), set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        bound, read = _names(cell.source)
        if is_solution(cell):
            bound_by_solutions |= bound - bound_outside
            continue
        leaked = sorted((read - bound - bound_outside) & bound_by_solutions)  # a name the cell binds itself is fine
        if leaked:
            problems.append(f"cell {index + 1} reads {leaked}, bound only in solution cells above it")
        bound_outside |= bound
    return problems


def figure_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Image outputs smaller than MIN_FIGURE_PIXELS on their long side."""
    problems = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            for mime, data in output.get("data", {}).items():
                if mime in ("image/png", "image/jpeg"):
                    size = Image.open(io.BytesIO(base64.b64decode(data))).size
                    if max(size) < MIN_FIGURE_PIXELS:
                        problems.append(f"cell {index + 1}: a figure of {size[0]} x {size[1]} px")
    return problems


def widget_problems(nb: nbformat.NotebookNode) -> list[str]:
    """A notebook that displays a widget also draws a static frame of it (for headless runs and readers)."""
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    shown = [i for i, source in enumerate(code) if "display(widget)" in source]
    return [f"code cell {i + 1} displays a widget but the next cell draws no frame" for i in shown
            if i + 1 >= len(code) or "draw(" not in code[i + 1]]


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem[:2] != "00"], ids=lambda p: p.stem)
def test_exercises_check_themselves_and_solutions_are_separate(path):
    nb = nbformat.read(path, as_version=4)
    assert exercise_problems(nb) == []
    assert sum(c.cell_type == "markdown" and c.source.lstrip().startswith("### Exercise") for c in nb.cells) \
        >= MIN_EXERCISES
    assert solution_leaks(nb) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_figures_are_readable_and_widgets_have_a_frame_and_the_time_is_measured(path):
    nb = nbformat.read(path, as_version=4)
    assert figure_problems(nb) == []
    assert widget_problems(nb) == []
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    setup = next(i for i, source in enumerate(code) if "setup_notebook(" in source and "ctx =" in source)
    assert f'time_and_hardware("{path.stem}")' in code[setup + 1], "the cell after the setup states the time"


def test_widgets_teach_in_at_least_three_notebooks():
    with_widgets = [p.stem for p in NOTEBOOKS if "display(widget)" in p.with_suffix(".py").read_text(encoding="utf-8")]
    assert len(with_widgets) >= 3, with_widgets


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    for kind, source, tags in cells:
        cell = nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    return nb


GOOD_EXERCISE = [("md", "### Exercise 1: x", ()), ("code", "answer = None\ncheck_infonce(answer, 1, 2, 3, 4)", ()),
                 ("code", "answer = 0.9\ncheck_infonce(answer, 1, 2, 3, 4)", ("solution",))]


def test_the_exercise_checker_accepts_a_good_exercise_and_reports_bad_ones():
    assert exercise_problems(_notebook(*GOOD_EXERCISE)) == []
    no_solution = _notebook(*GOOD_EXERCISE[:2], ("code", "print(1)", ()))
    assert exercise_problems(no_solution) == ["### Exercise 1: x: the cell after the student's must be a code cell "
                                              "tagged 'solution'"]
    unknown = _notebook(("md", "### Exercise 2: y", ()), ("code", "a = None\ncheck_nothing(a)", ()),
                        ("code", "check_nothing(1)", ("solution",)))
    assert "check_nothing is not a checker" in exercise_problems(unknown)[0]
    stray = _notebook(("code", "x = 1", ("solution",)))
    assert exercise_problems(stray) == ["cells [1] are tagged 'solution' but follow no exercise"]


def test_the_leak_checker_finds_a_name_only_a_solution_binds():
    fine = _notebook(*GOOD_EXERCISE, ("code", "%matplotlib inline\nanswer = 2\nprint(answer)", ()))
    assert solution_leaks(fine) == []  # the student's cell binds `answer` too
    leaky = _notebook(*GOOD_EXERCISE, ("code", "from math import pi\ntable = {}", ("solution",)),
                      ("code", "print(table, pi)", ()))
    assert solution_leaks(leaky) == ["cell 5 reads ['pi', 'table'], bound only in solution cells above it"]


def test_the_figure_checker_measures_the_long_side():
    def png(width, height):
        buffer = io.BytesIO()
        Image.new("RGB", (width, height)).save(buffer, format="png")
        return base64.b64encode(buffer.getvalue()).decode()
    nb = _notebook(("code", "plot()", ()), ("code", "plot()", ()))
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data={"image/png": png(395, 420)})]
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={"image/png": png(300, 480)})]
    assert figure_problems(nb) == ["cell 1: a figure of 395 x 420 px"]
    assert widget_problems(_notebook(("code", "display(widget)", ()), ("code", "print(1)", ()))) == \
        ["code cell 1 displays a widget but the next cell draws no frame"]
