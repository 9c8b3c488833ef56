# raftkv node image. Multi-stage: build with dev dependencies, run with production ones only,
# as a non-root user, with a health check on the HTTP port.
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
RUN groupadd --system raftkv && useradd --system --gid raftkv --home-dir /app raftkv \
    && mkdir -p /var/lib/raftkv && chown raftkv:raftkv /var/lib/raftkv
COPY --from=build --chown=raftkv:raftkv /src/package.json ./
COPY --from=build --chown=raftkv:raftkv /src/node_modules ./node_modules
COPY --from=build --chown=raftkv:raftkv /src/dist ./dist
COPY --from=build --chown=raftkv:raftkv /src/proto ./proto
COPY --from=build --chown=raftkv:raftkv /src/bin ./bin
USER raftkv
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
