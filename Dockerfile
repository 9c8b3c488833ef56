# raftkv node image. Multi-stage: build with dev dependencies, run with production ones only,
# as a non-root user with a numeric UID and GID (10001:10001: Kubernetes can check `runAsNonRoot`
# only against a number; cluster/kubernetes/raftkv.yaml sets the same runAsUser, runAsGroup and
# fsGroup), with a health check on the HTTP port.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY src ./src
COPY cluster ./cluster
COPY jepsen-lite ./jepsen-lite
COPY bin ./bin
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
ARG RAFTKV_UID=10001
ARG RAFTKV_GID=10001
RUN groupadd --system --gid "${RAFTKV_GID}" raftkv \
    && useradd --system --uid "${RAFTKV_UID}" --gid "${RAFTKV_GID}" --home-dir /app --no-create-home raftkv \
    && mkdir -p /var/lib/raftkv && chown "${RAFTKV_UID}:${RAFTKV_GID}" /var/lib/raftkv
# The code belongs to root and is read-only to the node; only its data dir is its own.
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/proto ./proto
COPY --from=build /src/bin ./bin
USER 10001:10001
VOLUME /var/lib/raftkv
EXPOSE 7001 7101 7201
# Liveness on /healthz (the HTTP port is RAFTKV_LISTEN_HTTP, 0.0.0.0:7201 below).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:7201/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENV RAFTKV_LISTEN_CLIENT=0.0.0.0:7001 \
    RAFTKV_LISTEN_PEER=0.0.0.0:7101 \
    RAFTKV_LISTEN_HTTP=0.0.0.0:7201 \
    RAFTKV_DATA_DIR=/var/lib/raftkv
ENTRYPOINT ["node", "bin/raftkv.js"]
CMD ["serve"]
