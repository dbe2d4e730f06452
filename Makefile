# The two commands of the README quickstart: `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ROOT ?= $(CURDIR)/.demo

.PHONY: demo test lint deps training-deps system-deps clean

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

deps: $(STAMP)

# The `training` extra (torch, NumPy) for examples/training/'s programs, which the tests
# run: installed once beside the test deps; `make demo` needs only `deps`.
TRAINING_STAMP := $(VENV)/.installed-training
$(TRAINING_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install -q -e '.[test,training]'
	touch $(TRAINING_STAMP)

# The kubeflow-training SDK the tests drive pins kubernetes<36, which ours (37) does not
# meet, so it lives in a venv of its own inside ours (pyproject's `training-sdk` extra).
SDK_VENV := $(VENV)/kubeflow-sdk
SDK_STAMP := $(SDK_VENV)/.installed
$(SDK_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install -q 'kubeflow-training==1.9.4'
	touch $(SDK_STAMP)

training-deps: $(TRAINING_STAMP) $(SDK_STAMP)

# Real parts the tests drive: etcd (Debian's etcd-server), kubectl, Debian's
# python3.11 (the non-root test runs keadm as an ordinary user with it), iproute2's
# `ip` (the reliability tests put an edge in its own network namespace), and CNI's
# standard plugins (pod networking: bridge, host-local, loopback).
APT_INSTALL := apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq
system-deps:
	@command -v etcd >/dev/null 2>&1 || ($(APT_INSTALL) etcd-server >/dev/null)
	@test -x /usr/bin/python3.11 || ($(APT_INSTALL) python3.11 >/dev/null)
	@command -v ip >/dev/null 2>&1 || ($(APT_INSTALL) iproute2 >/dev/null)
	@test -x /usr/lib/cni/bridge || ($(APT_INSTALL) containernetworking-plugins >/dev/null)
	@command -v kubectl >/dev/null 2>&1 || (echo "kubectl is missing: install kubectl 1.32 (apt-get install kubectl)" && exit 1)

lint: deps
	$(BIN)/ruff check .

test: deps training-deps system-deps lint
	$(BIN)/pytest -q

demo: deps
	$(BIN)/python -m kubeedge.demo --root $(DEMO_ROOT)

clean:
	rm -rf $(VENV) .demo .pytest_cache
