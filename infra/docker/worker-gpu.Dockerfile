# syntax=docker/dockerfile:1
#
# yoto worker, NVIDIA GPU: @tensorflow/tfjs-node-gpu 4.22.0 on CUDA.
#
#   docker build -f infra/docker/worker-gpu.Dockerfile -t yoto-worker-gpu .   # context: repo root
#
# tfjs-node-gpu 4.22.0 binds libtensorflow 2.9.1 (scripts/deps-constants.js), which is
# built against CUDA 11.2 and cuDNN 8.1 (tfjs-node README: "Linux GPU ... CUDA 11.2 w/
# cuDNN 8", NVIDIA driver >= 450). The base image below provides exactly those runtime
# libraries; the host needs a driver that supports CUDA 11.2 (any current one) and the
# NVIDIA container toolkit. Newer GPUs (e.g. Hopper, sm_90) run through PTX JIT: the
# first kernels compile at start-up; that is expected.
#
# Build time needs network access: the package's install script downloads libtensorflow
# (~400 MB) and the prebuilt N-API addon from storage.googleapis.com. pnpm skips that
# script by default (pnpm-workspace.yaml, ignoredBuiltDependencies); this image runs it
# explicitly, once, here. Nothing is downloaded when a container starts.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04

FROM ${NODE_IMAGE} AS node

# ---- JS dependencies (pure JS; same as the CPU image, plus the optional tfjs-node-gpu) ----
FROM ${NODE_IMAGE} AS deps
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
RUN pnpm --filter @yoto/worker deploy --prod --legacy --prefer-offline /out \
 && rm -rf /out/test \
 && test -d /out/node_modules/@tensorflow/tfjs-node-gpu

# ---- native: libtensorflow + the addon, on the same OS/glibc as the runtime ----
FROM ${CUDA_IMAGE} AS native
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=deps /out /app
# The package's own "install" script (node scripts/install.js gpu download): downloads
# libtensorflow 2.9.1 (GPU) into deps/, then the prebuilt addon via node-pre-gyp (falls back
# to compiling it, hence make/g++/python3). The package's node_modules/.bin has node-pre-gyp.
RUN cd "$(readlink -f /app/node_modules/@tensorflow/tfjs-node-gpu)" \
 && PATH="$PWD/node_modules/.bin:$PATH" node scripts/install.js gpu download \
 && ls lib/napi-v*/tfjs_binding.node deps/lib/libtensorflow.so.2.9.1

# ---- runtime ----
FROM ${CUDA_IMAGE} AS runtime
ENV NODE_ENV=production \
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true \
    YOTO_BACKEND=tensorflow \
    TF_CPP_MIN_LOG_LEVEL=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY --from=node /usr/local/bin/node /usr/local/bin/node
RUN groupadd --gid 1000 yoto && useradd --uid 1000 --gid 1000 --create-home --shell /usr/sbin/nologin yoto
WORKDIR /app
COPY --from=native /app /app
COPY infra/docker/healthcheck.mjs /app/healthcheck.mjs
USER 1000:1000
# YOTO_BACKEND=tensorflow: a GPU worker whose native library does not load fails at start
# (loudly) instead of quietly training on wasm. Set YOTO_BACKEND=auto to allow the fallback.
HEALTHCHECK --interval=60s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "/app/healthcheck.mjs", "redis"]
STOPSIGNAL SIGTERM
CMD ["node", "--import", "tsx", "src/main.ts"]
