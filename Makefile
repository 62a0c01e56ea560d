# Two commands do all the set-up (see README.md):
#   make demo   the main job: own virtual environment, the whole notebook series at the cpu preset -> runs/<stamp>/
#   make test   the tests: pytest, every notebook executed with papermill at the ci preset, then nbval
# Both need only Python >= 3.10 with pip and venv.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch. Override for a CUDA machine, e.g. make demo TORCH_SPEC="torch".
TORCH_SPEC ?= torch==2.13.0
PRESET ?= cpu

.PHONY: demo test venv unit notebooks-ci nbval sync refresh-outputs student bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
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
	$(PY) -c "from ctl.teach.series import refresh_outputs; refresh_outputs('$(PRESET)', only='$(ONLY)'.split())"
	$(VENV)/bin/jupytext --sync notebooks/[0-9][0-9]_*.ipynb

# The series as handed to students: solution cells removed, outputs cleared, into build/student/ (instructors keep
# notebooks/, see notebooks/INSTRUCTORS.md). It never replaces a notebook there that it did not write itself.
student: venv
	$(PY) -m ctl.teach.student notebooks build/student

bench: venv
	$(PY) benchmarks/run_all.py

clean:
	rm -rf build .pytest_cache
