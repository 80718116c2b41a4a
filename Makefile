# hybridscale developer targets. `make test` is the README's test command and what CI runs.
CARGO ?= cargo

.PHONY: build test crds lint bench fmt

build:
	$(CARGO) build --release

# Benches are left out: they are `harness = false` programs that would run in full under `cargo test`.
test:
	$(CARGO) test --lib --bins --tests --no-fail-fast

# Regenerate crds/ from src/api/ (tests/crds.rs fails when they drift).
crds:
	$(CARGO) run --quiet -- crd --out-dir crds/

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench:
	$(CARGO) bench
