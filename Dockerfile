# The operator's container image: TypeScript is compiled in a build stage; the runtime stage holds dist/ and the
# production dependencies only, and runs as the non-root user 65532 the Helm chart expects.
#   docker build -t <registry>/aws-assume-role-operator:0.1.0 .
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# All dependencies, including the devDependency `node` (its install script fetches the Node binary that npm scripts run).
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS runtime-deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only: the runtime uses the image's Node, never the `node` devDependency; no install scripts.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# package.json declares "type": "module", which dist/*.js needs.
COPY --from=runtime-deps /app/package.json ./package.json
COPY --from=runtime-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 65532:65532
# Health probes and metrics (--health-probe-bind-address, --metrics-bind-address).
EXPOSE 8080 8081
# ENTRYPOINT, not CMD: the chart passes the operator's flags as the container's `args`, which replace CMD.
ENTRYPOINT ["node", "dist/main.js"]
