# syntax=docker/dockerfile:1
# credbroker image: build with dev dependencies, run with production dependencies only.
# Node 26 is the Active LTS line (since 2026-10-28); its images are built on Debian trixie.
ARG NODE_IMAGE=node:26-trixie-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# the three bins of package.json, executable for the links on PATH in the runtime stage
RUN npm run build \
 && chmod 0755 dist/cli/credbroker.js dist/cli/docker-credential-credbroker.js dist/cli/kubelet-provider.js
COPY scripts/build-kubelet-provider.mjs ./scripts/
# dist/bin/credbroker-kubelet-provider: the kubelet plugin as one executable, for the chart's DaemonSet
RUN npm run build:kubelet-provider

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
# no production dependency has an install script
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
# tini reaps the orphans of ext: scripts; npm, npx, corepack and yarn are removed:
# nothing installs packages at run time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* \
 && groupadd --gid 10001 credbroker \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin credbroker \
 && mkdir -p /app/config /app/policy \
 && ln -s /app/dist/cli/credbroker.js /usr/local/bin/credbroker \
 && ln -s /app/dist/cli/docker-credential-credbroker.js /usr/local/bin/docker-credential-credbroker \
 && ln -s /app/dist/cli/kubelet-provider.js /usr/local/bin/credbroker-kubelet-provider
WORKDIR /app
# --max-semi-space-size=2: V8's young generation stays at 2 MB a half instead of growing to
# 16 MB under load; the service's idle RSS is ~20 MB lower and falls back to idle within
# seconds after an overload (docs/operations.md "Memory"; npm run bench runs the service so)
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=2 \
    HOME=/tmp \
    PORT=8080 \
    REGISTRIES_CONF_PATH=/app/config/registries.conf
COPY --chown=root:root package.json ./
COPY --from=prod-deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root examples ./examples
COPY --chown=root:root openapi ./openapi
COPY --chown=root:root --chmod=0755 scripts/docker-entrypoint.sh /usr/local/bin/credbroker-entrypoint
USER 10001:10001
EXPOSE 8080
# `docker run IMAGE test nginx` runs `credbroker test nginx` (see the entrypoint)
ENTRYPOINT ["/usr/bin/tini", "--", "credbroker-entrypoint"]
CMD ["node", "dist/main.js"]
