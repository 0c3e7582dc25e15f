# Every target sets up what it needs: a uv-managed .venv from uv.lock, and (for demo, airflow and
# bench) a temporary AIRFLOW_HOME with SQLite and a moto server on 127.0.0.1.
PYTHON ?= python3
VENV := .venv
TOOLS := .tools
UV := $(TOOLS)/bin/uv
AWSCLI := $(TOOLS)/awscli/bin/aws
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: env htslib mariadb demo test lint bench mutate airflow clean

env: $(VENV)/.synced $(AWSCLI) htslib mariadb

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==0.13.9

$(VENV)/.synced: pyproject.toml uv.lock | $(UV) mariadb
	$(UV) sync --frozen --extra test --compile-bytecode --python $(PYTHON)
	@touch $@

# The AWS CLI, the reference the S3 sync is tested and benchmarked against, pins its own
# botocore, so it lives in an environment of its own.
$(AWSCLI): | $(UV)
	$(UV) venv -q $(TOOLS)/awscli --python $(PYTHON)
	$(UV) pip install -q --python $(TOOLS)/awscli/bin/python awscli==1.46.3

# htslib's bgzip, the reference the BGZF codec is tested and benchmarked against (Debian's tabix),
# and GNU time, which measures bgzip's peak memory in the benchmark.
htslib:
	@command -v bgzip >/dev/null && test -x /usr/bin/time || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq tabix time >/dev/null; }

# MariaDB, the server the bio-index's MySQL route is tested against (the tests start their own on
# 127.0.0.1 with a throw-away data directory), and the client headers, pkg-config and a C compiler
# the MySQL provider's mysqlclient is built with.
mariadb:
	@{ command -v mariadbd || test -x /usr/sbin/mariadbd; } >/dev/null && command -v mariadb-install-db >/dev/null && \
		command -v mariadb_config >/dev/null && command -v pkg-config >/dev/null && command -v cc >/dev/null || \
		{ $(SUDO) apt-get update -qq && \
		  $(SUDO) apt-get install -y -qq mariadb-server libmariadb-dev pkg-config gcc >/dev/null; }

demo: env
	$(VENV)/bin/python -m scripts.demo

lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# One pytest worker per core (pytest-xdist); each worker has its own AIRFLOW_HOME and free ports.
test: lint
	$(VENV)/bin/python -m pytest -n auto

bench: env
	$(VENV)/bin/python -m scripts.bench
	$(VENV)/bin/python -m scripts.bench_s3_sync
	$(VENV)/bin/python -m scripts.bench_dynamodb_copy
	$(VENV)/bin/python -m scripts.bench_bgzip

# Mutation testing of core/, hooks/ and operators/ (slow: not part of make test). SINCE=<git ref>
# mutates only the modules changed since that ref; the report is mutants/report.md.
mutate: env
	$(VENV)/bin/python -m scripts.mutate $(if $(SINCE),--since $(SINCE))

airflow: env
	$(VENV)/bin/python -m scripts.standalone

clean:
	rm -rf $(VENV) $(TOOLS)
