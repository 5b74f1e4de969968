# One image for both services; docker-compose.yml picks the command.
FROM node:20-bookworm-slim
# cpio and xz for root images, igzip (isal) to inflate gzip ones fast; python3/make/g++ build better-sqlite3 and fs-xattr.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cpio xz-utils isal python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/imgport
COPY . .
RUN npm ci --no-audit --no-fund && npm run build
ENV NODE_ENV=production
USER root
CMD ["node", "services/api/dist/main.js"]
