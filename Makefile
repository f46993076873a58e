# Every target creates .venv itself, so each works on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# what the second run of `make test` (every fast path off) leaves out: pages, examples, benchmarks,
# the tests of other libraries' entry points and of compiled graphs (what they call, the tests of
# the methods cover with the fast paths off), of the package's layout and of other kernels, of ranks
# that fail (the protocol takes no route) and of per-rank seeds (test_draws covers the draws)
ROUTES_OFF_SKIP := $(foreach t,docs docs_tables docs_code readme_and_examples benchmark_script migration \
	frameworks keras timm compile layout across_kernels,--ignore=tests/test_$(t).py) \
	$(foreach t,a_rank_fault_ends_every_rank_at_once_naming_its_cause a_rank_that_dies_is_named_by_the_others \
	every_rank_draws_its_own_mixes_reproducibly,--deselect=tests/test_distributed.py::test_$(t))
# the numerics leg: the exactness and property tests of the methods on other kernels, which every x86
# CPU has (ATen's portable kernels, MKL's reproducible mode, one thread): a promise that rests on one
# CPU's rounding fails here
NUMERICS_ENV   := ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
NUMERICS_TESTS := $(foreach t,properties fast_paths inplace draws modes volumes options collate,tests/test_$(t).py) \
	tests/test_distributed.py::test_mixing_across_ranks_equals_mixing_the_concatenated_batch
# the two later runs look for failures of other paths and kernels: a third of the hypothesis examples
LATER_LEG      := ZMIX_TESTS_LEG=1
# the routes-off leg runs on the oldest Python that requires-python admits, in a venv of its own
# (set up beside the first leg), so that what one Python version does differently shows; where that
# Python is missing, the disk lacks room for a second torch (about 6 GB, and as much again for
# pip's download) or the install fails, on .venv's Python, saying so
OLDEST_PYTHON  ?= $(shell for p in python3.10 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10; do \
	$$p -c "" > /dev/null 2>&1 && echo $$p && break; done)
OLDEST_VENV    := .venv-oldest
OLDEST_MIN_FREE_GB ?= 12
OLDEST_PY      = $$(test -e $(OLDEST_VENV)/.test && echo $(OLDEST_VENV)/bin/python || echo $(PY))

# $(call beside,NAME,A,B): run A (called NAME) in the background while B runs, then print A's
# output; fails if either does. make test pairs a one-thread job with a suite that is largely one
# Python thread (mypy beside the main leg, the numerics leg beside the routes-off leg), so that two
# cores finish both sooner (the main leg beside all three took as long: the CPU is the bound).
define beside
	log=$$(mktemp) && { $(2) > $$log 2>&1 & pid=$$!; } && { $(3); second=$$?; } \
	&& { wait $$pid; first=$$?; } && echo "--- $(1), run beside the above:" && cat $$log \
	&& rm -f $$log && test $$first -eq 0 && test $$second -eq 0
endef

.PHONY: test demo docs serve lint bench figures examples-quick package clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.test: $(VENV)/bin/activate pyproject.toml
	$(PIP) install -q -e ".[test]"
	touch $@

$(OLDEST_VENV)/.test: pyproject.toml
	@rm -rf $(OLDEST_VENV) && oldest="$(OLDEST_PYTHON)" && free=$$(df -Pk . | awk 'NR == 2 {print int($$4 / 1048576)}') \
	&& if test -z "$$oldest"; then echo "NOTE: no Python 3.10 here: the routes-off leg runs on .venv's Python"; \
	elif test "$$free" -lt $(OLDEST_MIN_FREE_GB); then echo "NOTE: $$free GB of disk free, under the" \
		"$(OLDEST_MIN_FREE_GB) GB a second torch takes: the routes-off leg runs on .venv's Python"; \
	elif $$oldest -m venv $(OLDEST_VENV) && $(OLDEST_VENV)/bin/python -m pip install -q --upgrade pip \
		&& $(OLDEST_VENV)/bin/python -m pip install -q -e ".[test]"; then touch $@; \
	else rm -rf $(OLDEST_VENV); echo "NOTE: the test extra did not install on Python 3.10: the routes-off leg runs on .venv's Python"; fi

$(VENV)/.examples: $(VENV)/bin/activate pyproject.toml
	$(PIP) install -q -e ".[examples]"
	touch $@

$(VENV)/.docs: $(VENV)/bin/activate pyproject.toml
	$(PIP) install -q -e ".[docs]"
	touch $@

## make test: install the package with its test extra into .venv, lint, type-check and run the tests,
## then the tests of the methods again with every fast path off (the plain PyTorch paths) on Python
## 3.10, and once more on other kernels (the numerics leg)
test: $(VENV)/.test
	$(PY) -m ruff check .
	$(call beside,mypy and the oldest Python's venv,{ $(PY) -m mypy zmix_transforms && $(MAKE) -s $(OLDEST_VENV)/.test; },\
		$(PY) -m pytest)
	$(call beside,the numerics leg,$(LATER_LEG) $(NUMERICS_ENV) $(PY) -m pytest -q -p no:cacheprovider $(NUMERICS_TESTS),\
		$(OLDEST_PY) -V && $(LATER_LEG) ZMIX_TRANSFORMS_DISABLE=all $(OLDEST_PY) -m pytest -q -p no:cacheprovider tests \
		$(ROUTES_OFF_SKIP))

## make demo: train a small CNN on scikit-learn's digits with each method (about a minute on 2 cores)
demo: $(VENV)/.examples
	$(PY) examples/train_digits.py

## make docs: build the documentation site (strict), with MathJax from npm, and check it loads nothing remote
docs: $(VENV)/.docs
	$(PY) scripts/vendor_mathjax.py
	$(PY) -m mkdocs build --strict
	$(PY) scripts/check_offline_site.py site

## make serve: serve the documentation site locally
serve: $(VENV)/.docs
	$(PY) scripts/vendor_mathjax.py
	$(PY) -m mkdocs serve

## make figures: regenerate the documentation's figures and tables (full runs, a few minutes)
figures: $(VENV)/.examples
	$(PY) examples/moons_2d.py --out docs/assets/examples
	$(PY) examples/helix_3d.py --out docs/assets/examples
	$(PY) examples/gallery.py --out docs/assets/examples
	$(PY) examples/method_figures.py --out docs/assets/examples
	$(PY) examples/train_digits.py --full --out docs/assets/examples --no-progress
	$(PY) examples/ddp_digits.py --out docs/assets/examples
	$(PY) examples/volumes_3d.py --out docs/assets/examples
	$(PY) examples/keras_digits.py --seeds 5 --out docs/assets/examples

## make examples-quick: run every example with --quick into a temporary folder
examples-quick: $(VENV)/.examples
	tmp=$$(mktemp -d) && for example in examples/*.py; do \
		$(PY) $$example --quick --out $$tmp/$$(basename $$example .py) > $$tmp/log.txt 2>&1 \
		|| { cat $$tmp/log.txt; exit 1; }; echo "ran $$example --quick"; done && rm -rf $$tmp

## make bench: measure and write docs/benchmarks.md and the distributed cost table (bench extra: timm)
bench: $(VENV)/.test
	$(PIP) install -q -e ".[bench]"
	$(PY) benchmarks/bench_mixing.py
	$(PY) benchmarks/bench_distributed.py

## make package: build the sdist and wheel, check them (twine, contents), install the wheel in a clean venv
package: $(VENV)/.test
	$(PIP) install -q build twine
	rm -rf dist
	$(PY) -m build --outdir dist . > /dev/null
	$(PY) -m twine check --strict dist/*
	$(PY) scripts/check_dist.py dist

lint: $(VENV)/.test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) $(OLDEST_VENV) site dist docs/javascripts/vendor .pytest_cache .hypothesis .ruff_cache
