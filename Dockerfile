# The operator's container image. TypeScript is compiled in a build stage; the final stage holds no shell and no
# package manager: only the node binary, the shared libraries it links against, the CA bundle, /etc/passwd with the
# non-root user 65532 the Helm chart expects, /app (dist/, the production dependencies without the optional
# @kubernetes/client-node) and a CycloneDX SBOM of those dependencies at /app/sbom.cdx.json.
#   docker build --build-arg VERSION=0.1.0 -t <registry>/aws-assume-role-operator:0.1.0 .
# NODE_IMAGE is any Debian-based image with Node and npm; the version is the one package.json pins
# (devDependencies.node; test/release.test.ts keeps NODE_VERSION equal to it). scripts/image passes its own base,
# made from Debian's packages and Node from the npm registry.
ARG NODE_VERSION=24.21.0
ARG NODE_IMAGE=node:${NODE_VERSION}-bookworm-slim

# Compiled JavaScript is the same on every platform: built once on the builder's own.
FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# All dependencies, including the devDependency `node` (its install script fetches the Node binary that npm scripts
# run) and @kubernetes/client-node (its types).
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Production dependencies only: no devDependencies (among them client-node, which serves
# exec/auth-provider kubeconfigs out of cluster), no install scripts; all of them plain JavaScript, so any platform's install serves.
# The SBOM is made from the lock file (npm sbom refuses an installed tree whose devDependencies are missing, even with
# --omit=dev) with the same omissions, so it lists what node_modules holds; npm then names the root component after
# its folder, hence a folder with the package's name.
FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS runtime-deps
WORKDIR /aws-assume-role-operator
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force && \
  npm sbom --sbom-format cyclonedx --sbom-type application --omit=dev --omit=optional --package-lock-only \
  >sbom.cdx.json

# The final stage's root file system, assembled with the base's shell for the target platform. Libraries are copied
# at their canonical path (merged /usr) with the base's /lib, /lib64 symlinks beside them; the CA bundle is made from
# Debian's ca-certificates files as update-ca-certificates makes it (/etc/ssl/certs/ca-certificates.crt itself may be
# the build host's, mounted); the dpkg records of the packages the files come from go to /var/lib/dpkg/status.d as
# in distroless images, so image scanners see them.
FROM ${NODE_IMAGE} AS rootfs
RUN set -eu; r=/rootfs; \
  mkdir -p "$r/usr/local/bin" "$r/etc/ssl/certs" "$r/var/lib/dpkg/status.d" "$r/app" "$r/tmp"; \
  chmod 1777 "$r/tmp"; \
  for d in /lib /lib32 /lib64 /libx32; do if [ -L "$d" ]; then cp -P "$d" "$r$d"; fi; done; \
  cp /usr/local/bin/node "$r/usr/local/bin/node"; \
  files=$(ldd /usr/local/bin/node | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); \
  for f in $files; do \
    dir=$(realpath "$(dirname "$f")"); mkdir -p "$r$dir"; \
    cp -P "$dir/$(basename "$f")" "$r$dir/"; \
    real=$(realpath "$f"); mkdir -p "$r$(dirname "$real")"; cp "$real" "$r$real"; \
  done; \
  for f in /usr/share/ca-certificates/mozilla/*.crt; do sed -e '$a\' "$f"; done >"$r/etc/ssl/certs/ca-certificates.crt"; \
  cp /etc/nsswitch.conf "$r/etc/nsswitch.conf"; \
  cp "$(realpath /etc/os-release)" "$r/etc/os-release"; \
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$r/etc/passwd"; \
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$r/etc/group"; \
  owned=$(for f in $files /usr/share/ca-certificates/mozilla; do dpkg -S "$f" 2>/dev/null || dpkg -S "$(realpath "$f")"; done); \
  for p in $(echo "$owned" | cut -d: -f1 | sort -u); do \
    dpkg-query -s "$p" >"$r/var/lib/dpkg/status.d/$p"; \
  done; \
  for p in libc6 libstdc++6 libgcc-s1 ca-certificates; do test -s "$r/var/lib/dpkg/status.d/$p"; done

FROM scratch
COPY --from=rootfs /rootfs/ /
ENV PATH=/usr/local/bin NODE_ENV=production
WORKDIR /app
# package.json declares "type": "module", which dist/*.js needs.
COPY --from=runtime-deps /aws-assume-role-operator/package.json /aws-assume-role-operator/sbom.cdx.json ./
COPY --from=runtime-deps /aws-assume-role-operator/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# OCI annotations (scripts/image and the release workflow pass them).
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=https://github.com/pincette/aws-assume-role-operator
LABEL org.opencontainers.image.title="aws-assume-role-operator" \
  org.opencontainers.image.description="Kubernetes operator that keeps Secrets filled with fresh temporary AWS credentials for AWSAssumeRole resources" \
  org.opencontainers.image.licenses="MIT" \
  org.opencontainers.image.source="${SOURCE}" \
  org.opencontainers.image.revision="${REVISION}" \
  org.opencontainers.image.version="${VERSION}" \
  org.opencontainers.image.created="${CREATED}"
# The revision again for the operator itself: aws_assume_role_build_info{revision} (docs/metrics.md).
ENV AAR_REVISION=${REVISION}
USER 65532:65532
# Health probes and metrics (--health-probe-bind-address, --metrics-bind-address).
EXPOSE 8080 8081
# ENTRYPOINT, not CMD: the chart passes the operator's flags as the container's `args`, which replace CMD.
ENTRYPOINT ["node", "dist/main.js"]
