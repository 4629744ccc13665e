# syntax=docker/dockerfile:1.7
# A Go service: module download cached apart from the source, static binary,
# distroless non-root final stage.
ARG GO_VERSION=1.22
ARG DISTROLESS=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/server ./cmd/server

FROM build AS test
RUN --mount=type=cache,target=/root/.cache/go-build go test ./...

FROM ${DISTROLESS}
COPY --from=build /out/server /server
EXPOSE 8080/tcp
USER 65532:65532
ENTRYPOINT ["/server"]
