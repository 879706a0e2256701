# Webhook status receiver. Build: docker build -t webhook-receiver .
# Run:   docker run -d -p 9191:9191 -v webhook-data:/var/lib/webhook \
#          -e WEBHOOK_SECRETS=whsec_... webhook-receiver
# Secrets can come from a file instead (Docker/Compose secrets):
#          -e WEBHOOK_SECRETS_FILE=/run/secrets/webhook_secrets

# Build stage: better-sqlite3 compiles a native addon when no prebuilt binary fits.
FROM node:20-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so a code change does not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: no compiler, no dev dependencies, no root.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    WEBHOOK_HOST=0.0.0.0 \
    WEBHOOK_PORT=9191 \
    WEBHOOK_DB=/var/lib/webhook/webhook.db
# A fixed numeric id lets orchestrators check runAsNonRoot and lets volumes be chowned ahead.
RUN groupadd --system --gid 10001 webhook \
 && useradd --system --uid 10001 --gid webhook --home-dir /var/lib/webhook --no-create-home \
      --shell /usr/sbin/nologin webhook \
 && install -d -o webhook -g webhook -m 0750 /var/lib/webhook
WORKDIR /app
# Code stays root-owned: the service user can read it, not change it.
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/migrations ./migrations
USER 10001:10001
VOLUME /var/lib/webhook
EXPOSE 9191
# fetch is global in Node 20; no curl in the slim image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.WEBHOOK_PORT || 9191) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# server.js closes the listener and the database on SIGTERM; docker stop's default grace is 10 s.
STOPSIGNAL SIGTERM
CMD ["node", "--max-semi-space-size=32", "dist/src/server.js"]
