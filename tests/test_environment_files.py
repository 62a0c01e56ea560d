"""pyproject.toml, environment.yml and binder/requirements.txt must name the same runtime packages."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    """'SimpleITK>=2.3' -> 'simpleitk' (PEP 503 normalisation)."""
    name = re.split(r"[<>=!~;\[ @]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    notebooks = {_name(r) for r in project["optional-dependencies"]["notebooks"]}
    return runtime, notebooks


def _environment_yml() -> set[str]:
    names, in_pip = set(), False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("- pip:"):
            in_pip = True
        elif in_pip and stripped.startswith("- "):
            names.add(_name(stripped[2:]))
    return names


def _binder() -> set[str]:
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    return {_name(l) for l in lines if l.strip() and not l.startswith(("#", "-"))}


def test_name_normalisation():
    assert _name("SimpleITK>=2.3") == "simpleitk"
    assert _name("ctl @ git+https://example.org/x") == "ctl"
    assert _name("Foo_Bar.baz[extra]>=1") == "foo-bar-baz"


def test_environment_yml_matches_pyproject():
    runtime, notebooks = _pyproject()
    assert _environment_yml() == runtime | notebooks


def test_binder_matches_pyproject():
    runtime, notebooks = _pyproject()
    assert _binder() == runtime | notebooks


def test_binder_uses_cpu_torch_and_installs_the_package():
    requirements = (ROOT / "binder" / "requirements.txt").read_text()
    assert "whl/cpu" in requirements
    post_build = ROOT / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111, "binder/postBuild must be executable"
    assert "pip install --no-deps -e ." in post_build.read_text()


def test_python_version_floor():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.10"
