# syntax=docker/dockerfile:1
# Multi-stage build: compile with the Rust toolchain, run on a slim Debian
# base as a non-root user. librdkafka is bundled (built from source by
# rdkafka-sys) with TLS through the system OpenSSL (the build image has
# libssl-dev; the runtime needs libssl3 and the CA certificates).
#
# BuildKit cache mounts keep the crate registry and the target directory
# between builds, so a change to src/ rebuilds the crate, not librdkafka
# and the dependencies:
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg REVISION=$(git rev-parse HEAD) -t incident-monitor .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY benches benches
COPY config config
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin incident-monitor \
 && install -D -s target/release/incident-monitor /out/incident-monitor

FROM debian:bookworm-slim
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="incident-monitor" \
      org.opencontainers.image.description="Streaming cybersecurity incident monitor: exact monthly and period figures from Kafka, Prometheus metrics, reports in Vietnamese and English" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/incident-monitor/incident-monitor" \
      org.opencontainers.image.documentation="https://github.com/incident-monitor/incident-monitor/blob/main/README.md"
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin monitor \
 && mkdir -p /var/lib/incident-monitor /etc/incident-monitor \
 && chown 10001 /var/lib/incident-monitor
COPY --from=build /out/incident-monitor /usr/local/bin/incident-monitor
COPY config/ /etc/incident-monitor/
USER 10001
EXPOSE 9898
VOLUME /var/lib/incident-monitor
# Alive while the endpoint accepts connections on its port (HEALTH_PORT,
# 9898 by default). A TCP connect, not an HTTP request, so it holds with
# TLS and authentication on too; Kubernetes uses its own probes of
# /healthz and /readyz instead (deploy/k8s).
ENV HEALTH_PORT=9898
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${HEALTH_PORT}"]
ENTRYPOINT ["incident-monitor"]
# The endpoint stays on loopback unless a configuration binds it elsewhere
# together with a web config (TLS, basic auth): deploy/ does both.
CMD ["run", "--config", "/etc/incident-monitor/incident-monitor.toml", "--state-dir", "/var/lib/incident-monitor"]
