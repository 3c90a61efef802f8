# Tallygate gateway image: build with the full toolchain, run with production dependencies only.
# Node 26: the Active LTS line since October 2026 (24 is in maintenance; 20 reached end of life in
# April 2026). Supported Node versions: README.md, "Node versions".
FROM node:26-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY server server
COPY migrations migrations
COPY bench bench
COPY client client
RUN npm run build

FROM node:26-trixie-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist dist
COPY --from=build /app/client/dist client/dist
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD node -e "fetch('http://127.0.0.1:8080/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# A larger young generation: see docs/operations.md, "Node flags".
CMD ["node", "--max-semi-space-size=64", "dist/server/main.js"]
