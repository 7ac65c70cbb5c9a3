# syntax=docker/dockerfile:1
#
# yoto worker, CPU only: TensorFlow.js on the wasm backend (SIMD, threads).
#
#   docker build -f infra/docker/worker-cpu.Dockerfile -t yoto-worker-cpu .   # context: repo root
#
# Needs at run time: REDIS_URL, S3_ENDPOINT (or S3_BUCKET for AWS), S3_* credentials.
# SIGTERM: the running step finishes, a checkpoint is written, the run goes back to the
# queue; give it time (docker stop -t 600 / stop_grace_period / terminationGracePeriodSeconds).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
ARG PNPM_VERSION=10.34.9
ENV CI=true
RUN npm install -g "pnpm@${PNPM_VERSION}" --no-audit --no-fund && npm cache clean --force
WORKDIR /src
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/shared/package.json packages/shared/
COPY packages/runtime/package.json packages/runtime/
COPY packages/coordinator/package.json packages/coordinator/
COPY packages/worker/package.json packages/worker/
COPY test/package.json test/
COPY bench/package.json bench/
RUN pnpm fetch --frozen-lockfile
COPY packages/ packages/
# Production deps of @yoto/worker (tsx included); --no-optional leaves out tfjs-node-gpu.
RUN pnpm --filter @yoto/worker deploy --prod --legacy --no-optional --prefer-offline /out \
 && rm -rf /out/test

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true \
    YOTO_BACKEND=wasm
WORKDIR /app
COPY --from=build /out /app
COPY infra/docker/healthcheck.mjs /app/healthcheck.mjs
USER 1000:1000
# Process alive (the check runs inside the container) and Redis reachable.
HEALTHCHECK --interval=60s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "/app/healthcheck.mjs", "redis"]
STOPSIGNAL SIGTERM
CMD ["node", "--import", "tsx", "src/main.ts"]
