# Two commands for a fresh machine (see README):
#   make demo   installs core + selfsup into .venv and trains SimCLR on the bundled digits
#   make test   installs the test tools and runs every plugin's suite alone (nox), lint, the docs build,
#               and the slow DDP and cross-plugin tests with every plugin installed
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install -q -c constraints.txt
# CI's link to the package index drops large downloads now and then; try an install three times.
RETRY = for attempt in 1 2 3; do $(1) && exit 0; echo "install failed (attempt $$attempt of 3)"; sleep 30; done; exit 1

.PHONY: demo test system-deps

# pip as pinned, the version nox's session venvs get: one download cache serves them all.
$(BIN)/python:
	python3 -m venv $(VENV)
	$(call RETRY,$(PIP) pip)

# torch and torchvision (about 6 GB) go once into .torch/, shared with nox's session venvs.
$(VENV)/.demo-installed: $(BIN)/python constraints.txt packages/core/pyproject.toml packages/selfsup/pyproject.toml
	$(call RETRY,python3 tools/shared_torch.py $(VENV))
	$(call RETRY,$(PIP) -e packages/core -e packages/selfsup)
	touch $@

demo: $(VENV)/.demo-installed
	WANDB_MODE=$${WANDB_MODE:-offline} $(BIN)/leyden fit --config examples/selfsup/simclr_digits.yaml

# Headless MuJoCo rendering (dm_control, gymnasium MuJoCo) needs Mesa's EGL/GL libraries.
system-deps:
	@if ! ldconfig -p | grep -q libEGL.so.1 || ! ldconfig -p | grep -q libGL.so.1; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libegl1 libgl1 >/dev/null; \
		else echo "install libegl1 and libgl1 (apt-get) for the MuJoCo tests"; fi; fi

test: $(BIN)/python system-deps
	$(call RETRY,$(PIP) nox)
	MUJOCO_GL=egl $(BIN)/nox -s lint core selfsup rl sim docs slow
