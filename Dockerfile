# syntax=docker/dockerfile:1
# One small image per service, from this one file:
#   docker build --build-arg SERVICE=order -t meshkit/order:dev .
# The build stage bundles the service into a single file (scripts/build-services.ts);
# the runtime stage holds Node and that bundle only.

FROM node:22-bookworm-slim AS build
WORKDIR /src
# Dependencies first, so a source change reuses this layer. Install scripts are not
# needed: esbuild finds its platform binary through its optional dependency.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/build-services.ts ./scripts/
# The services compile against the contract and the mesh's path matcher (their only imports outside apps/).
COPY contract ./contract
COPY mesh/istio-match.ts ./mesh/
COPY apps ./apps
ARG SERVICE
RUN test -n "${SERVICE}" || { echo 'pass --build-arg SERVICE=user|product|order|payment|notification' >&2; exit 1; } \
    && npm run build -- --service "${SERVICE}"

FROM node:22-bookworm-slim AS runtime
ARG SERVICE
ENV NODE_ENV=production
WORKDIR /app
# main.js, its package.json (ESM) and PGlite's wasm/data for runs without DATABASE_URL.
COPY --from=build /src/apps/${SERVICE}/dist/ ./
# Numeric, matching the pods' runAsUser (constructs/meshed-service.ts), so runAsNonRoot can verify it.
USER 10001:10001
# 8080: public API (the Service port); 9090: health, metrics and chaos (never in a Service).
EXPOSE 8080 9090
CMD ["node", "main.js"]
