# syntax=docker/dockerfile:1
# JustStorage image. The bun tag matches the `bun` devDependency in package.json.

# Production dependencies, installed exactly from package-lock.json. npm runs
# the `postinstall: patch-package` script here, which applies patches/ to
# postgres.js (patch-package is a production dependency for that reason).
FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches/ ./patches/
RUN npm ci --omit=dev --no-audit --no-fund \
 && grep -q "socket === null" node_modules/postgres/src/connection.js

FROM oven/bun:1.4.5-slim AS runtime
WORKDIR /app
RUN groupadd --system --gid 10001 juststorage \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin juststorage \
 && mkdir -p /data/hot /data/cold \
 && chown -R 10001:10001 /data
COPY --from=deps --chown=10001:10001 /app/node_modules ./node_modules
COPY --chown=10001:10001 package.json app.ts main.ts ./
COPY --chown=10001:10001 core/ ./core/
COPY --chown=10001:10001 functions/ ./functions/
COPY --chown=10001:10001 cli/ ./cli/
COPY --chown=10001:10001 console/ ./console/
COPY --chown=10001:10001 migrations/ ./migrations/
COPY --chown=10001:10001 scripts/ ./scripts/
ENV NODE_ENV=production \
    DATA_DIR=/data \
    HOT_STORAGE_ROOT=/data/hot \
    COLD_STORAGE_ROOT=/data/cold \
    PORT=8080 \
    BUN_RUNTIME_TRANSPILER_CACHE_PATH=0
USER 10001:10001
# The whole data directory: blobs and, without DATABASE_URL, the embedded
# PostgreSQL (/data/pg) and the admin token must outlive the container together.
VOLUME ["/data"]
EXPOSE 8080
# Slim images have no curl: a bun script checks liveness, on the port PORT or LISTEN_ADDR sets.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["bun", "scripts/healthcheck.ts"]
CMD ["bun", "main.ts"]
