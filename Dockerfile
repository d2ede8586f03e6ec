# One image for every Aura process; docker-compose.yml picks the command:
#   node dist/api/main.js | node dist/workers/main.js | node dist/realtime/main.js | node dist/scripts/migrate.js
# Debian (glibc), not Alpine: the uWebSockets.js binary and the Temporal core bridge need glibc.
ARG NODE_IMAGE=node:20-bookworm-slim

##### Build: compile TypeScript and prebuild the workflow bundle #####
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build
# Production workers load this bundle (WORKFLOW_BUNDLE_PATH) instead of running webpack at start.
RUN node -e "require('@temporalio/worker').bundleWorkflowCode({ workflowsPath: require.resolve('./dist/workflows') }).then(({ code }) => require('node:fs').writeFileSync('dist/workflow-bundle.js', code), (err) => { console.error(err); process.exit(1); })"

##### Runtime: production dependencies and the compiled output only #####
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
ENV WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js \
    API_HOST=0.0.0.0 \
    API_PORT=3000 \
    REALTIME_HOST=0.0.0.0 \
    REALTIME_PORT=3001
# Files stay root-owned (read-only to the app); the processes run unprivileged.
USER node
EXPOSE 3000 3001
CMD ["node", "dist/api/main.js"]
