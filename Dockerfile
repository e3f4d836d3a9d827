# pipectl worker image: `docker build -t pipectl-worker .` (docker-compose.yml builds it as the `worker` service).
# Stage 1 compiles TypeScript and prebuilds the workflow bundle; stage 2 holds only what a worker runs.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# `npm install`, not `npm ci`: the lock lacks other platforms' optional packages, which `npm ci` rejects (as in CI).
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json index.ts ./
COPY types ./types
COPY core ./core
COPY catalog ./catalog
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
COPY cli ./cli
COPY temporal-config ./temporal-config
# dist/ with the compiled code and dist/workflow-bundle.js: workers load the bundle and never run webpack.
RUN npm run build && test -s dist/workflow-bundle.js
# Only production dependencies go on (pipeline definitions are compiled at load time by tsx, a production one).
RUN npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PIPECTL_PIPELINES_DIR=/app/pipelines \
    PIPECTL_STATE_DIR=/var/lib/pipectl \
    PIPECTL_FILES_DIR=/var/lib/pipectl/files \
    PIPECTL_EMBEDDED_POSTGRES=0
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
# The example pipelines; mount your own over /app/pipelines (inside /app, `import … from 'pipectl'` resolves).
COPY pipelines ./pipelines
RUN mkdir -p /var/lib/pipectl/files && chown -R node:node /var/lib/pipectl
USER node
# SIGTERM (docker stop) lets running steps finish for PIPECTL_SHUTDOWN_GRACE, then the worker exits.
STOPSIGNAL SIGTERM
CMD ["node", "bin/pipectl.js", "worker"]
