# Trawl's container image: built with the Swift toolchain image, run on a slim Debian with only the binary
# and the C libraries it links (ISA-L, zstd, snappy, bzip2, LZ4, Brotli, zlib, libstdc++), as a non-root
# user. Layout as the Devo collectors' on-premise containers: /devo-collector/{config,certs,state}; see
# deploy/trawl/docker-compose.yaml and the README's "Running in a container".

FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libisal-dev libzstd-dev libsnappy-dev libbz2-dev liblz4-dev libbrotli-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product trawl --static-swift-stdlib \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/trawl" /out/trawl

FROM debian:bookworm-slim AS run
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libisal2 libzstd1 libsnappy1v5 libbz2-1.0 liblz4-1 libbrotli1 zlib1g libstdc++6 ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 trawl \
    && useradd --system --uid 10001 --gid trawl --home-dir /devo-collector --shell /usr/sbin/nologin trawl \
    && mkdir -p /devo-collector/config /devo-collector/certs /devo-collector/state \
    && chown trawl:trawl /devo-collector/state
COPY --from=build /out/trawl /usr/local/bin/trawl
USER 10001:10001
WORKDIR /devo-collector
VOLUME ["/devo-collector/state"]
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/trawl"]
CMD ["run", "--config", "/devo-collector/config/config.yaml"]
