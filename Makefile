# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LEADS ?= 20000
SEED ?= 7
DB ?= sqlite:///data/leads.db

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[train,postgres,dev]"
	touch $(STAMP)

install: $(STAMP)

# The main job on the embedded defaults: synthetic CRM in SQLite, its summary, then training
# (MLflow in ./mlflow.db) and promotion of the new version to champion.
run: $(STAMP)
	mkdir -p data
	$(BIN)/leadscore generate --leads $(LEADS) --seed $(SEED) --db $(DB) --snapshot data/snapshot_export.csv
	$(BIN)/leadscore data summary --config configs/demo.yaml --db $(DB)
	$(BIN)/leadscore train --config configs/demo.yaml --db $(DB)
	$(BIN)/leadscore promote latest

# The notebook runs too (nbmake), in a scratch folder with its own MLflow store.
test: $(STAMP)
	$(BIN)/ruff check scoring training tests benchmarks
	LEADSCORE_NOTEBOOK_DIR=$$(mktemp -d) env -u MLFLOW_TRACKING_URI $(BIN)/python -m pytest --nbmake tests notebooks

lint: $(STAMP)
	$(BIN)/ruff check scoring training tests benchmarks
	$(BIN)/ruff format --check scoring training tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/generate.py
	$(BIN)/python benchmarks/train.py
	$(BIN)/python benchmarks/weighting.py

clean:
	rm -rf $(VENV) data mlflow.db mlruns .pytest_cache
