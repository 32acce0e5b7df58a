# One image for the ext_authz server, the authority, the ledger sequencer and its witnesses; the
# command picks which (see envoy/docker-compose.yaml and istio/manifests/). No key material is
# built in: keys are mounted read-only at /etc/governance/keys when the container runs.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only to the service user: it cannot rewrite its own code.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Read at run time: the authority serves its gRPC API from the .proto file.
COPY --from=build /app/proto ./proto
# The witnesses' state directory, owned by the service user: a new Docker volume mounted there
# takes this owner (in Kubernetes, fsGroup makes the volume writable).
RUN mkdir -p /var/lib/witness && chown 1000:1000 /var/lib/witness
# The base image's `node` user, by number so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 9191 9192 7070 7080 7090 7380
CMD ["node", "dist/authz-server/main.js", "--config", "/etc/governance/authz.yaml"]
