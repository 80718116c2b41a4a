# syntax=docker/dockerfile:1
# The hybridscale operator image: a Rust builder stage, then distroless `cc` (glibc, libgcc, CA
# certificates, no shell), running as the non-root user 65532. `make image` builds the same image without
# a Docker daemon (hack/image.sh); docs/image.md covers multi-arch builds and pushing.
#
#   docker build -t ghcr.io/hybridscale/hybridscale:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
# The build context has no .git (.dockerignore): build.rs takes the commit from here.
ARG REVISION=unknown
ENV HYBRIDSCALE_GIT_COMMIT=${REVISION}
WORKDIR /src
COPY . .
# Cargo.toml's release profile strips the binary and leaves out debug info.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin hybridscale \
    && install -m 0755 target/release/hybridscale /hybridscale

# Debian 12, the same glibc the builder links against.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="hybridscale" \
      org.opencontainers.image.description="Kubernetes operator that runs self-hosted LLM inference at the lowest cost that meets its latency SLO" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/hybridscale/hybridscale" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /hybridscale /hybridscale
USER 65532:65532
ENTRYPOINT ["/hybridscale"]
CMD ["controller"]
