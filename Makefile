# Entry points; each target is a thin alias for a script so the scripts also work without make.
.PHONY: demo test lint journey

demo:  ## start the API, a worker and beat with a demo clinic (embedded defaults)
	./scripts/demo

test:  ## install and run the whole test suite (PostgreSQL + Redis)
	./scripts/test

lint:  ## ruff and the migration check
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/python manage.py makemigrations --check --dry-run

journey:  ## the patient journey end to end against gunicorn + worker + PostgreSQL + Redis
	./scripts/journey

.PHONY: bench
bench:  ## the benchmark on PostgreSQL + Redis (~10 min; ARGS=--quick, --smoke for CI, --profile); see BENCHMARKS.md
	bash -c 'source scripts/_venv.sh && ensure_venv dev' && .venv/bin/python bench/run.py $(ARGS)
