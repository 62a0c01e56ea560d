# Two commands do all the set-up (see README.md):
#   make demo   the main job: own virtual environment, the whole notebook series at the cpu preset -> runs/<stamp>/
#   make test   the tests: pytest, every notebook executed with papermill at the ci preset, then nbval
# Both need only Python >= 3.10 with pip and venv.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
# Without an NVIDIA GPU (no nvidia-smi, no /proc/driver/nvidia) torch comes from PyTorch's CPU index: the default
# index's Linux x86-64 wheel is the CUDA build, gigabytes of CUDA libraries a laptop without a GPU never uses.
# With one, from the default index (CUDA). Override either way: make demo TORCH_INDEX= (default index) or
# TORCH_INDEX=https://download.pytorch.org/whl/cu126, and TORCH_SPEC="torch==2.13.0" for another version.
HAS_NVIDIA := $(shell command -v nvidia-smi >/dev/null 2>&1 || test -e /proc/driver/nvidia && echo yes)
TORCH_INDEX ?= $(if $(HAS_NVIDIA),,https://download.pytorch.org/whl/cpu)
PRESET ?= cpu

.PHONY: demo test venv unit notebooks-ci nbval sync refresh-outputs student bench clean wheel-check

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet -e ".[notebooks,test]"
	touch $@

demo: venv
	$(PY) -m ctl demo --preset $(PRESET)

test: venv
	$(MAKE) unit notebooks-ci nbval

unit: venv
	$(PY) -m pytest -q tests

# The data and run folders are the notebooks' own defaults (../data, ../runs/notebooks), so that nbval, which
# cannot pass parameters, reuses the phantom and the models trained here instead of training them again.
notebooks-ci: venv
	$(PY) -m ctl run-notebooks --preset ci --out build/notebooks --data data --run runs/notebooks

nbval: venv
	CTL_PRESET=ci $(PY) -m pytest -q -p no:cacheprovider --nbval-lax notebooks

# Notebook sources: notebooks/*.py (jupytext percent) are paired with notebooks/*.ipynb.
sync: venv
	$(VENV)/bin/jupytext --sync notebooks/[0-9][0-9]_*.ipynb

# Re-execute the notebooks and keep their outputs in the committed .ipynb (see README, "Notebooks in git").
# ONLY="05_dice_assd_comparison" refreshes just the notebooks named.
refresh-outputs: venv
	$(PY) -m ctl refresh-outputs --preset $(PRESET) $(if $(ONLY),--only $(ONLY))
	$(VENV)/bin/jupytext --sync notebooks/[0-9][0-9]_*.ipynb

# The package as a student gets it: the wheel built, installed (not editable) with its dependencies in a fresh
# virtual environment, and run from an empty folder outside the checkout (.ci/wheel_check, run by .ci/run).
wheel-check:
	PYTHON=$(PYTHON) TORCH_SPEC="$(TORCH_SPEC)" TORCH_INDEX="$(TORCH_INDEX)" bash .ci/wheel_check

# The series as handed to students: solution cells removed, outputs cleared, into build/student/ (instructors keep
# notebooks/, see notebooks/INSTRUCTORS.md). It never replaces a notebook there that it did not write itself.
student: venv
	$(PY) -m ctl.teach.student notebooks build/student

bench: venv
	$(PY) benchmarks/run_all.py

clean:
	rm -rf build .pytest_cache
