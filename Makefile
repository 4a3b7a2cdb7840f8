# Two commands for a fresh machine (see README):
#   make demo   installs core + selfsup into .venv and trains SimCLR on the bundled digits
#   make test   installs the test tools and runs every plugin's suite alone (nox), plus lint
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install -q -c constraints.txt

.PHONY: demo test system-deps

$(BIN)/python:
	python3 -m venv $(VENV)

$(VENV)/.demo-installed: $(BIN)/python constraints.txt packages/core/pyproject.toml packages/selfsup/pyproject.toml
	$(PIP) -e packages/core -e packages/selfsup
	touch $@

demo: $(VENV)/.demo-installed
	WANDB_MODE=$${WANDB_MODE:-offline} $(BIN)/leyden fit --config examples/selfsup/simclr_digits.yaml

# Headless MuJoCo rendering (dm_control, gymnasium MuJoCo) needs Mesa's EGL/GL libraries.
system-deps:
	@if ! ldconfig -p | grep -q libEGL.so.1 || ! ldconfig -p | grep -q libGL.so.1; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libegl1 libgl1 >/dev/null; \
		else echo "install libegl1 and libgl1 (apt-get) for the MuJoCo tests"; fi; fi

test: $(BIN)/python system-deps
	$(PIP) nox
	MUJOCO_GL=egl $(BIN)/nox -s lint core selfsup rl sim
