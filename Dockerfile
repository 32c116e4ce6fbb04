# Multi-stage build: compile with the Rust toolchain, run on a slim Debian
# base as a non-root user. librdkafka is bundled (built from source by
# rdkafka-sys) with TLS through the system OpenSSL (the build image has
# libssl-dev; the runtime needs libssl3 and the CA certificates).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY benches benches
COPY config config
RUN cargo build --release --locked --bin incident-monitor \
 && strip target/release/incident-monitor

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin monitor \
 && mkdir -p /var/lib/incident-monitor /etc/incident-monitor \
 && chown 10001 /var/lib/incident-monitor
COPY --from=build /src/target/release/incident-monitor /usr/local/bin/incident-monitor
COPY config/ /etc/incident-monitor/
USER 10001
EXPOSE 9898
VOLUME /var/lib/incident-monitor
ENTRYPOINT ["incident-monitor"]
# The endpoint stays on loopback unless a configuration binds it elsewhere
# together with a web config (TLS, basic auth): deploy/ does both.
CMD ["run", "--config", "/etc/incident-monitor/incident-monitor.toml", "--state-dir", "/var/lib/incident-monitor"]
