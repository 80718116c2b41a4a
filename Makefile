# hybridscale developer targets. `make test` is the README's test command and what CI runs (.ci/run).
CARGO ?= cargo

# helm and kubectl are not Debian packages: `make tools` fetches them into this folder (hack/tools.sh,
# .ci/helm), whose bin/ comes first on PATH in every target.
TOOLS_DIR ?= $(CURDIR)/.tools
export HS_TOOLS_DIR := $(TOOLS_DIR)
export PATH := $(TOOLS_DIR)/bin:$(PATH)

# The image `make image` builds and tags; the chart's default image (charts/hybridscale/values.yaml,
# appVersion in Chart.yaml) is this reference, which tests/shipped/image.rs checks.
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n 1)
IMAGE_REPO ?= ghcr.io/hybridscale/hybridscale
IMAGE ?= $(IMAGE_REPO):$(VERSION)
IMAGE_ARCHIVE ?= target/image/hybridscale-$(VERSION).oci.tar
RELEASE_BIN = $(or $(CARGO_TARGET_DIR),target)/release/hybridscale

.PHONY: build test tools crds lint bench fmt chart-crds chart-lint image image-test image-name

build:
	$(CARGO) build --release --locked --bin hybridscale

# What the tests need beyond the Rust toolchain: Prometheus, openssl and Lua from Debian (apt-get when
# root), helm and kubectl into $(TOOLS_DIR). Idempotent; nothing happens when everything is there.
tools:
	@hack/tools.sh test

# Benches are left out: they are `harness = false` programs that would run in full under `cargo test`.
test: tools
	$(CARGO) test --workspace --lib --bins --tests --no-fail-fast

# The operator image as an OCI archive, without a Docker daemon (buildah from scratch; hack/image.sh).
# The Dockerfile builds the same image with Docker; docs/image.md covers pushing and multi-arch builds.
image: build
	@hack/tools.sh image
	hack/image.sh $(IMAGE) $(RELEASE_BIN) $(IMAGE_ARCHIVE)

# Unpack the archive and run its entrypoint as user 65532 (`--version`, `crd`); needs root for chroot.
image-test:
	@hack/tools.sh image
	hack/image-test.sh $(IMAGE) $(IMAGE_ARCHIVE)

image-name:
	@echo $(IMAGE)

# Regenerate crds/ from crates/api/src/ (tests/shipped/crds.rs fails when they drift).
crds:
	$(CARGO) run --quiet -- crd --out-dir crds/
	$(MAKE) chart-crds

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench:
	$(CARGO) bench

# The Helm chart ships the same CRDs as crds/ (Helm installs charts/hybridscale/crds/ before templates).
chart-crds:
	mkdir -p charts/hybridscale/crds
	rm -f charts/hybridscale/crds/*.yaml
	cp crds/*.yaml charts/hybridscale/crds/

# The chart ships copies of the alert rules and the Grafana dashboard (templates embed them with .Files.Get);
# tests/shipped/alert_rules.rs and tests/shipped/dashboard.rs fail when a copy differs from config/.
.PHONY: chart-files
chart-files:
	mkdir -p charts/hybridscale/files
	cp config/prometheus/hybridscale-rules.yaml charts/hybridscale/files/
	cp config/grafana/hybridscale.json charts/hybridscale/files/

# Lint and render the chart with the defaults and with every option on. helm comes from `make tools`.
# tests/shipped/argocd.rs parses the rendered objects and checks the RBAC against src/actuate/rbac.rs.
chart-lint: tools
	@diff -r crds charts/hybridscale/crds || { echo "charts/hybridscale/crds differs from crds/: run make chart-crds"; exit 1; }
	@diff config/prometheus/hybridscale-rules.yaml charts/hybridscale/files/hybridscale-rules.yaml || { echo "charts/hybridscale/files differs from config/: run make chart-files"; exit 1; }
	@diff config/grafana/hybridscale.json charts/hybridscale/files/hybridscale.json || { echo "charts/hybridscale/files differs from config/: run make chart-files"; exit 1; }
	helm lint --strict charts/hybridscale
	helm lint --strict charts/hybridscale -f charts/hybridscale/ci/all-features-values.yaml
	helm template hybridscale charts/hybridscale -n hybridscale-system --include-crds >/dev/null
	helm template hybridscale charts/hybridscale -n hybridscale-system \
	  -f charts/hybridscale/ci/all-features-values.yaml >/dev/null

# The e2e scenarios in their cluster mode (HS_E2E_KUBECONFIG) against a standalone sandbox API server that
# they reach only through its kubeconfig: once with Karpenter NodePools, once with plain pods.
.PHONY: e2e-kubeconfig
e2e-kubeconfig: tools
	CARGO="$(CARGO)" e2e/kubeconfig.sh nodepools
	CARGO="$(CARGO)" e2e/kubeconfig.sh plain
