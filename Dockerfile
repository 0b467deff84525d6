# The haul image: one static binary on distroless, run as a non-root user.
#
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg COMMIT="$(git rev-parse HEAD)" --build-arg DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -t haul:dev .
#
# docker-compose.yml builds it as haul:dev; docs/compose.md says how to use both.
# cmd/haul/dockerfile_test.go checks the final stage (numeric non-root USER,
# exec-form ENTRYPOINT) and that the Go image matches go.mod.

# Build on the builder's own platform and cross-compile for the target's.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src

# Modules first, in a layer of their own: it is rebuilt only when go.mod or
# go.sum change, not on every source edit.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=""
ARG DATE=""
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/haul ./cmd/haul \
 && mkdir -p /out/home/rejects

# distroless/static: CA certificates, tzdata and /etc/passwd with nonroot
# (65532); no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=""
ARG DATE=""
LABEL org.opencontainers.image.title="haul" \
      org.opencontainers.image.description="Loads fleet and shipment JSON into PostgreSQL and serves analytics over it" \
      org.opencontainers.image.source="https://github.com/haul-dev/haul" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${DATE}"
COPY --from=build /out/haul /usr/local/bin/haul
# The working directory and its rejects folder (haul ingest --rejects-dir)
# belong to the runtime user, so a named volume mounted there starts out
# writable: Docker copies a directory's ownership into a new volume.
COPY --from=build --chown=65532:65532 /out/home /var/lib/haul
WORKDIR /var/lib/haul
USER 65532:65532
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/haul"]
CMD ["--help"]
