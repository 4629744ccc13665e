# Rust: dependencies built from the manifests alone, then the source;
# a slim runtime with only the CA certificates, as an unprivileged user.
FROM rust:1.80-slim-bookworm AS chef
WORKDIR /app
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs \
 && cargo build --release \
 && rm -rf src

FROM chef AS builder
COPY src ./src
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/app/target,id=rust-target \
    cargo build --release && cp target/release/app /usr/local/bin/app

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 app
COPY --from=builder /usr/local/bin/app /usr/local/bin/app
USER app
CMD ["app"]
