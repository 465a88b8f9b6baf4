#!/usr/bin/env bash
# Starts the local services the integration tests talk to, if they are down, and installs
# the Debian tools the tests need. Idempotent; safe to run on a machine where all is up.
set -euo pipefail

log() { printf 'services-up: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {  # name port seconds
    local i
    for ((i = 0; i < $3 * 4; i++)); do
        port_open "$2" && return 0
        sleep 0.25
    done
    log "$1 did not open port $2 within $3 s"
    return 1
}

# PostgreSQL (attempt ledger shared by several dialer processes)
if ! port_open 5432; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    wait_port PostgreSQL 5432 60
fi

# RabbitMQ (outcome events)
if ! port_open 5672; then
    log "starting RabbitMQ"
    rabbitmq-server -detached || true
    wait_port RabbitMQ 5672 120
fi

# Prometheus and promtool (alert rule tests, real scrape test) come from Debian's package.
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    log "installing Debian's prometheus package (prometheus, promtool)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    # The package may start a system instance on :9090; tests start their own on a free port.
    (systemctl stop prometheus 2>/dev/null || service prometheus stop 2>/dev/null || true) >/dev/null 2>&1
fi
log "services ready"
