# callstream in a container: a static binary on a small Debian base.
#
#   docker build -t callstream .
#   docker run --rm -e CALLSTREAM_APP=https://app.example.com/flexml \
#     -e CALLSTREAM_SIP=172.28.0.11:5060 -p 8780:8780 callstream
#
# Every serve flag can be given as CALLSTREAM_<FLAG> in the environment
# (--node-id: CALLSTREAM_NODE_ID). --sip must name the container's own
# address (or give --public-ip): it is written into SDP for RTP.
#
# Ports: 5060/udp and 5060/tcp SIP, 8780/tcp HTTP (API, /healthz,
# /metrics). RTP uses the UDP range of --rtp-ports (default 20000-30000,
# here 20000-20999): callers send media straight to the node, so the range
# must be reachable (publish it, or route to the container network).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# A static binary: no cgo (the Opus and SpanDSP builds need cgo and are
# not built here; G.711 and G.722 are pure Go).
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/callstream ./cmd/callstream

FROM debian:bookworm-slim
# espeak-ng renders Say and scenario speech; curl answers the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/callstream --create-home callstream
COPY --from=build /out/callstream /usr/local/bin/callstream
USER callstream
WORKDIR /var/lib/callstream
ENV CALLSTREAM_HTTP=0.0.0.0:8780 \
    CALLSTREAM_RTP_PORTS=20000-20999 \
    CALLSTREAM_LOG_FORMAT=json \
    CALLSTREAM_RECORDINGS_DIR=/var/lib/callstream/recordings
EXPOSE 5060/udp 5060/tcp 8780/tcp
# /healthz answers 200 while the node takes calls and 503 while it drains.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8780/healthz || exit 1
# SIGTERM drains: calls in progress finish (up to --drain-timeout, 30 s by
# default; give the container a longer stop grace period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["callstream"]
CMD ["serve"]
