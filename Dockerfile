# One image for operator, gateway, console and the migrate Job; the chart passes the entry file
# as the first argument (e.g. `gateway/src/main.ts`). Node 24 runs the TypeScript sources
# directly, so the image holds sources, production dependencies and the built web console.
# Build where Docker is available: docker build -t codevector:dev .
FROM node:24-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends g++ make python3 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN npm ci --no-audit --no-fund && npm run -w console/web build && npm prune --omit=dev

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app /app
USER 10001
ENTRYPOINT ["node", "--disable-warning=ExperimentalWarning"]
CMD ["gateway/src/main.ts"]
