# syntax=docker/dockerfile:1
#
# commodore in a container: built from this tree, run as an unprivileged user,
# its data dir (journal, order logs, control token) on a volume.
#
#   docker build -t commodore .
#   docker run -d --name commodore -v commodore-data:/var/lib/commodore \
#       -p 127.0.0.1:7421:7421 --stop-timeout 120 commodore
#   docker exec commodore commodore ctl status
#
# With Prometheus: compose.yaml. Choices and limits: deploy/README.md
# ("In a container"). Not built in CI.

# --- build -------------------------------------------------------------------
# The toolchain the project is developed with (rust-version in Cargo.toml is
# the minimum). The slim image has the C compiler that rusqlite's bundled
# SQLite and ring need.
FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src
COPY . .
# The registry and target dir are BuildKit caches: a rebuild after a source
# change recompiles commodore's crates only, not every dependency. The binary
# is copied out of the cache mount in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -D -m 0755 target/release/commodore /out/commodore

# --- run ---------------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: webhooks, HTTP feeds and an LLM endpoint over https
# (reqwest with rustls reads the system's roots).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# uid/gid 10001: no user of the host or of the base image. The data dir is
# created here, owned by that user, so a new named volume starts with that
# owner (commodore keeps it at mode 0700).
RUN groupadd --system --gid 10001 commodore \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /var/lib/commodore --shell /usr/sbin/nologin commodore \
    && install -d -m 0700 -o 10001 -g 10001 /var/lib/commodore
COPY --from=builder /out/commodore /usr/local/bin/commodore
# Examples to layer over the embedded defaults (`run --config ...`); the
# defaults and the bundled market data are inside the binary.
COPY config/examples/ /usr/share/commodore/examples/

# Environment overrides win over every --config file, so these hold whatever
# config is mounted: the data dir is the volume, and the control API listens
# on every interface of the container (publish it on the host's loopback, or
# on a private network only: everything but /healthz, /readyz and the
# dashboard's page /ui (which holds no data) needs the bearer token). The token: COMMODORE_CONTROL_TOKEN if set, else
# /var/lib/commodore/control.token, written on the first start.
ENV COMMODORE__DATA_DIR=/var/lib/commodore \
    COMMODORE__CONTROL__LISTEN=0.0.0.0:7421
VOLUME ["/var/lib/commodore"]
WORKDIR /var/lib/commodore
USER 10001:10001
EXPOSE 7421

# SIGTERM begins the ordered stop (in-flight orders finish, the journal is
# flushed). Give it time: `docker stop -t 120`, or stop_grace_period in compose.
STOPSIGNAL SIGTERM

# Healthy while the control API answers an authenticated request. `ctl`
# reads the same environment (address, token), so no curl is needed; its exit
# codes 1 (API error) and 3 (unreachable) become Docker's 1. An engine that
# failed does not make the container unhealthy (a restart would not mend it):
# /readyz and /metrics report it.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD commodore ctl status >/dev/null || exit 1

ENTRYPOINT ["commodore"]
CMD ["run"]
