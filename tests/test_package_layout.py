"""The layout of ``ctl``: a small top level, and two layers. The library (everything under ``ctl/`` but
``ctl/teach/``, the command line ``ctl/__main__.py`` included) never imports the teaching layer ``ctl.teach``; the
teaching layer may import the library."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ctl"
LIBRARY = sorted(p for p in PACKAGE.rglob("*.py")
                 if "teach" not in p.relative_to(PACKAGE).parts)


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, package: Path = PACKAGE) -> set[str]:
    """Every module the file ``path`` of ``package`` imports, made absolute, in any form: ``import ctl.teach``,
    ``from ctl.teach.x import y``, ``from ctl import teach``, ``from .. import teach``, ``from ..teach import x``."""
    name = module_name(path, package)
    parent = (name if path.name == "__init__.py" else name.rpartition(".")[0]).split(".")  # where "." points
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = parent[:len(parent) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}  # `from ctl import teach` names a module
    return found


def imports_teach(path: Path, package: Path = PACKAGE) -> list[str]:
    return sorted(m for m in imported_modules(path, package) if m == "ctl.teach" or m.startswith("ctl.teach."))


def test_the_command_line_and_the_series_runner_are_library_modules():
    assert {PACKAGE / "__main__.py", PACKAGE / "series.py"} <= set(LIBRARY)


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_library_never_imports_the_teaching_layer(path):
    assert imports_teach(path) == [], f"{path.relative_to(PACKAGE.parent)} imports the teaching layer"


def test_the_import_walk_sees_every_form_of_import(tmp_path):
    forms = ["import ctl.teach", "import ctl.teach.plots as p", "from ctl.teach.plots import show_slice",
             "from ctl import teach", "from .. import teach", "from ..teach import plots",
             "from ..teach.plots import x"]
    package = tmp_path / "ctl"
    module = package / "evaluate" / "example.py"
    module.parent.mkdir(parents=True)
    for form in forms:
        module.write_text(form + "\n", encoding="utf-8")
        assert imports_teach(module, package), form
    module.write_text("from ctl.evaluate import metrics\nimport ctl.teaching_notes\nfrom . import runs\n")
    assert imports_teach(module, package) == []


def test_the_top_level_holds_at_most_six_modules():
    modules = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert len(modules) <= 6, modules
    subpackages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert subpackages == ["data", "evaluate", "losses", "methods", "nets", "teach", "training", "translate"]
