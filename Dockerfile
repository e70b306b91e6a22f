# attune's image: the daemon, installed from the package `npm pack` makes of this checkout
# (exactly what npm would publish), with its production dependencies only, as a non-root user.
#
#   docker build -t attune .
#   docker run -d --name attune -v attune-data:/var/lib/attune -v "$PWD/packs/examples:/packs/examples:ro" \
#     attune daemon --no-ui --health-port 9464 --packs /opt/attune/packs/core --packs /packs/examples
#
# compose.yaml runs it with PostgreSQL and RabbitMQ; docs/deploy.md explains both, and systemd.

ARG NODE_IMAGE=node:20-bookworm-slim

# 1. Build: every dependency, compile, pack (prepack runs the build), unpack the tarball.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json README.md LICENSE ./
COPY bin ./bin
COPY scripts ./scripts
COPY src ./src
COPY migrations ./migrations
COPY packs ./packs
COPY docs ./docs
RUN npm pack --pack-destination /tmp \
 && mkdir /opt/attune \
 && tar -xzf /tmp/attune-*.tgz --strip-components=1 -C /opt/attune \
 && cp package-lock.json /opt/attune/

# 2. Runtime: the unpacked package and its production dependencies, pinned by the lockfile.
FROM ${NODE_IMAGE}
# python3 for Python sensors (node and bash are in the base image).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/attune /opt/attune
WORKDIR /opt/attune
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && ln -s /opt/attune/bin/run.js /usr/local/bin/attune \
 && groupadd --system --gid 10001 attune \
 && useradd --system --uid 10001 --gid attune --home-dir /var/lib/attune --create-home --shell /usr/sbin/nologin attune \
 && mkdir -p /packs

# $ATTUNE_HOME holds the embedded database when no PostgreSQL is configured: keep it on a volume.
# Packs are mounted read-only under /packs and named with --packs.
ENV NODE_ENV=production \
    ATTUNE_HOME=/var/lib/attune \
    ATTUNE_HEALTH_HOST=0.0.0.0 \
    ATTUNE_API_HOST=0.0.0.0
VOLUME ["/var/lib/attune"]
USER attune
WORKDIR /var/lib/attune
EXPOSE 9464 9465

# /readyz: 200 once the daemon serves (database reachable, sensors loaded), 503 otherwise.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# SIGTERM (docker stop): polls in flight finish and the outbox is flushed; give it
# `docker stop -t 45` (or stop_grace_period) beyond the 30 s shutdown timeout.
STOPSIGNAL SIGTERM
ENTRYPOINT ["attune"]
CMD ["daemon", "--no-ui", "--health-port", "9464", "--packs", "/opt/attune/packs/core"]
