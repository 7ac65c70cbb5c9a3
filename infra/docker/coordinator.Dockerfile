# syntax=docker/dockerfile:1
#
# yoto coordinator: dashboard + REST API (/api, /queues, /metrics, /healthz) and the
# aggregate worker, i.e. `yoto up --workers 0` against an external Redis and S3.
#
#   docker build -f infra/docker/coordinator.Dockerfile -t yoto-coordinator .   # context: repo root
#
# Needs at run time: REDIS_URL, S3_ENDPOINT (or S3_BUCKET alone for AWS), S3_* credentials
# (or an IAM role), YOTO_API_TOKEN (>= 16 chars; required because it listens on 0.0.0.0).
# Without REDIS_URL / S3_* `yoto up` would try to start its embedded services, which this
# image does not ship (no redis-server): always configure both.
#
# Pin the base by digest in your registry mirror when you promote an image
# (node:20.20.2-bookworm-slim@sha256:...); the tag is exact here.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# ---- build: a pruned production copy of @yoto/coordinator and its workspace deps ----
FROM ${NODE_IMAGE} AS build
ARG PNPM_VERSION=10.34.9
ARG TSX_VERSION=4.23.15
ENV CI=true
RUN npm install -g "pnpm@${PNPM_VERSION}" --no-audit --no-fund && npm cache clean --force
WORKDIR /src
# Manifests first: the dependency layer is cached until one of them changes.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/shared/package.json packages/shared/
COPY packages/runtime/package.json packages/runtime/
COPY packages/coordinator/package.json packages/coordinator/
COPY packages/worker/package.json packages/worker/
COPY test/package.json test/
COPY bench/package.json bench/
RUN pnpm fetch --frozen-lockfile
COPY packages/ packages/
# `pnpm deploy`: coordinator + @yoto/shared + @yoto/runtime, production deps only.
RUN pnpm --filter @yoto/coordinator deploy --prod --legacy --prefer-offline /out \
 && rm -rf /out/test
# The code runs TypeScript through tsx (no build step). tsx is a root devDependency, not
# one of @yoto/coordinator's, so it is installed on its own (pinned) and linked in.
RUN npm install --prefix /opt/tsx --omit=dev --no-audit --no-fund "tsx@${TSX_VERSION}" \
 && ln -s /opt/tsx/node_modules/tsx /out/node_modules/tsx \
 && npm cache clean --force

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true \
    YOTO_HOME=/var/lib/yoto \
    YOTO_DASHBOARD_HOST=0.0.0.0 \
    YOTO_DASHBOARD_PORT=8790
WORKDIR /app
COPY --from=build /opt/tsx /opt/tsx
COPY --from=build /out /app
COPY infra/docker/healthcheck.mjs /app/healthcheck.mjs
# `yoto up` logs to $YOTO_HOME/logs/up.log: point that file at stdout so the container
# runtime collects the log (do not mount a volume over $YOTO_HOME/logs).
RUN mkdir -p /var/lib/yoto/logs \
 && ln -s /dev/stdout /var/lib/yoto/logs/up.log \
 && chown -R node:node /var/lib/yoto
# Non-root: the base image's `node` user (uid 1000).
USER 1000:1000
EXPOSE 8790
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/app/healthcheck.mjs", "http"]
STOPSIGNAL SIGTERM
CMD ["node", "--import", "tsx", "src/cli/main.ts", "up", "--workers", "0"]
