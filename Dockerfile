# agg in a container: the binary, the sentence model, the shipped pipelines.
#   docker compose up      (see docker-compose.yml and README.md)
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked || cargo build --release

FROM python:3.11-slim-bookworm AS model
COPY scripts/setup-model.sh /setup-model.sh
RUN bash /setup-model.sh /models

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/agg agg
COPY --from=build /src/target/release/agg /usr/local/bin/agg
COPY --from=model /models /opt/agg/models
COPY pipelines /etc/agg/pipelines
COPY agents /etc/agg/agents
COPY templates /etc/agg/templates
ENV AGG_MODEL_DIR=/opt/agg/models
USER agg
WORKDIR /var/lib/agg
ENTRYPOINT ["/usr/local/bin/agg"]
