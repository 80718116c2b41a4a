# hybridscale developer targets. `make test` is the README's test command and what CI runs.
CARGO ?= cargo

.PHONY: build test crds lint bench fmt chart-crds chart-lint

build:
	$(CARGO) build --release

# Benches are left out: they are `harness = false` programs that would run in full under `cargo test`.
test:
	$(CARGO) test --lib --bins --tests --no-fail-fast

# Regenerate crds/ from src/api/ (tests/crds.rs fails when they drift).
crds:
	$(CARGO) run --quiet -- crd --out-dir crds/
	$(MAKE) chart-crds

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench:
	$(CARGO) bench

# The Helm chart ships the same CRDs as crds/ (Helm installs charts/hybridscale/crds/ before templates).
chart-crds:
	mkdir -p charts/hybridscale/crds
	rm -f charts/hybridscale/crds/*.yaml
	cp crds/*.yaml charts/hybridscale/crds/

# Lint and render the chart with the defaults and with every option on. helm comes from .ci/helm.
# tests/argocd.rs parses the rendered objects and checks the RBAC against src/actuate/rbac.rs.
chart-lint:
	@diff -r crds charts/hybridscale/crds || { echo "charts/hybridscale/crds differs from crds/: run make chart-crds"; exit 1; }
	helm="$$(.ci/helm)" && \
	  "$$helm" lint --strict charts/hybridscale && \
	  "$$helm" lint --strict charts/hybridscale -f charts/hybridscale/ci/all-features-values.yaml && \
	  "$$helm" template hybridscale charts/hybridscale -n hybridscale-system --include-crds >/dev/null && \
	  "$$helm" template hybridscale charts/hybridscale -n hybridscale-system \
	    -f charts/hybridscale/ci/all-features-values.yaml >/dev/null

# The e2e scenarios in their cluster mode (HS_E2E_KUBECONFIG) against a standalone sandbox API server that
# they reach only through its kubeconfig: once with Karpenter NodePools, once with plain pods.
.PHONY: e2e-kubeconfig
e2e-kubeconfig:
	CARGO="$(CARGO)" e2e/kubeconfig.sh nodepools
	CARGO="$(CARGO)" e2e/kubeconfig.sh plain
