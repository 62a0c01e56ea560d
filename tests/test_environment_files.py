"""pyproject.toml, environment.yml and binder/requirements.txt must name the same packages; Binder pins every
package exactly (CPU torch); the version number has one source."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    """'SimpleITK>=2.3' -> 'simpleitk' (PEP 503 normalisation)."""
    name = re.split(r"[<>=!~;\[ @]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject() -> tuple[set[str], set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    notebooks = {_name(r) for r in project["optional-dependencies"]["notebooks"]}
    test = {_name(r) for r in project["optional-dependencies"]["test"]}
    return runtime, notebooks, test


def _environment_yml() -> set[str]:
    names, in_pip = set(), False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("- pip:"):
            in_pip = True
        elif in_pip and stripped.startswith("- "):
            names.add(_name(stripped[2:]))
    return names


def _binder_lines() -> list[str]:
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith(("#", "-"))]


def _binder() -> set[str]:
    return {_name(line) for line in _binder_lines()}


def test_name_normalisation():
    assert _name("SimpleITK>=2.3") == "simpleitk"
    assert _name("ctl @ git+https://example.org/x") == "ctl"
    assert _name("Foo_Bar.baz[extra]>=1") == "foo-bar-baz"


def test_environment_yml_matches_pyproject_with_the_test_extra():
    runtime, notebooks, test = _pyproject()
    assert _environment_yml() == runtime | notebooks | test


def test_binder_pins_pyproject_packages_and_what_they_pull_in():
    runtime, notebooks, test = _pyproject()
    assert runtime | notebooks <= _binder()
    assert not (test - runtime - notebooks) & _binder(), "Binder runs the notebooks, not the tests"
    unpinned = [line for line in _binder_lines() if not re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][0-9A-Za-z.+]*", line)]
    assert unpinned == [], "every Binder requirement is pinned with ==, so that a rebuild gives the same environment"
    assert len(_binder_lines()) == len(_binder()), "a package pinned twice"


def test_binder_uses_cpu_torch_and_installs_the_package():
    requirements = (ROOT / "binder" / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements.splitlines()
    assert [line for line in _binder_lines() if _name(line) == "torch"] == ["torch==2.13.0+cpu"]
    post_build = ROOT / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111, "binder/postBuild must be executable"
    assert "pip install --no-deps -e ." in post_build.read_text()


def test_python_version_floor():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.10"
