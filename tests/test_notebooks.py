"""Every notebook: title, Colab badge and setup cell, a plain `parameters` cell, the shared setup call, a paired
jupytext script, small committed outputs from one in-order run. The checker itself is tested on bad notebooks."""
import ast
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PARAMETERS = ["PRESET", "DATA_SOURCE", "DATA_DIR", "RUN_DIR", "SEED"]
COLAB_URL = "https://colab.research.google.com/github/ctl-teaching/ctl/blob/main/notebooks/"
MAX_NOTEBOOK_BYTES = 2_000_000
MAX_IMAGE_BYTES = 200_000  # base64 text of one image output


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
