#!/usr/bin/env bash
# Install the real servers that tests/differential and tests/e2e run against:
# Apache 2.4 (+ apache2-dev to build mod_wsgi), nginx, HAProxy 2.6, Caddy 2.6,
# and mod_wsgi 6.1.1 built from PyPI into a venv of Debian's system Python (with
# trustedproxy's runtime dependencies, netaddr and PyYAML, for the tests that run
# the checkout inside mod_wsgi); and
# the C toolchain (gcc, libc6-dev, python3-dev) that also builds
# trustedproxy._speedups.
#
# Runs as root on Debian 12, non-interactively. Idempotent: each step is skipped
# when its result is already there, so a second run takes a second or two.
# Leaves no nginx/apache2/haproxy/caddy system daemon running: the tests start
# their own instances on free ports.
#
# Environment:
#   TRUSTEDPROXY_MODWSGI_VENV  where to build mod_wsgi (default below); the
#                              tests read the same variable.
set -euo pipefail

MODWSGI_VERSION="6.1.1"
VENV="${TRUSTEDPROXY_MODWSGI_VENV:-/opt/trustedproxy-modwsgi/venv}"
SYSTEM_PYTHON=/usr/bin/python3
export DEBIAN_FRONTEND=noninteractive

log() { printf 'install-servers: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
    log "must run as root (apt-get, /opt, www-data)"
    exit 1
fi

# --- Debian packages -------------------------------------------------------
# gcc, libc6-dev and python3-dev also build trustedproxy's C speedups.
PACKAGES=(apache2 apache2-dev python3-dev python3-venv nginx haproxy caddy gcc libc6-dev)
missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    # Do not let the packages' postinst start the daemons (policy-rc.d 101 =
    # "action forbidden"); restored afterwards if we created it.
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    trap '[ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    if [ "$created_policy" = 1 ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
    trap - EXIT
else
    log "Debian packages already installed"
fi

# --- no system daemons -----------------------------------------------------
# Stop and disable whatever the packages may have started, without failing on
# machines that have no systemd (containers): fall back to the pid files (which
# may list several pids, as HAProxy's can). Caddy ships only systemd units and
# no pid file: without systemd nothing starts it.
stop_daemon() {
    local name="$1" pidfile="$2"
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl stop "$name" >/dev/null 2>&1 || true
        systemctl disable "$name" >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1; then
        update-rc.d "$name" disable >/dev/null 2>&1 || true
    fi
    if [ -n "$pidfile" ] && [ -s "$pidfile" ]; then
        local pid
        for pid in $(cat "$pidfile"); do
            case "$pid" in *[!0-9]*) continue ;; esac
            if kill -0 "$pid" 2>/dev/null; then
                log "stopping system $name (pid $pid)"
                kill "$pid" 2>/dev/null || true
                for _ in $(seq 1 50); do
                    kill -0 "$pid" 2>/dev/null || break
                    sleep 0.1
                done
            fi
        done
    fi
}
stop_daemon apache2 /var/run/apache2/apache2.pid
stop_daemon apache-htcacheclean /run/apache2/htcacheclean.pid
stop_daemon nginx /run/nginx.pid
stop_daemon haproxy /run/haproxy.pid
stop_daemon caddy ""
stop_daemon caddy-api ""

# --- mod_wsgi in a venv of Debian's system Python ---------------------------
# Apache drops to www-data, and the embedded interpreter must be readable by
# it: a pyenv Python under /root is not, Debian's /usr/bin/python3 is.
if [ -x "$VENV/bin/mod_wsgi-express" ] \
    && "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('mod_wsgi') != '$MODWSGI_VERSION')" 2>/dev/null; then
    log "mod_wsgi $MODWSGI_VERSION already built in $VENV"
else
    log "building mod_wsgi $MODWSGI_VERSION in $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$SYSTEM_PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-cache-dir "mod_wsgi==$MODWSGI_VERSION"
fi
# trustedproxy's runtime dependencies, for tests/e2e/test_modwsgi_embedded.py,
# which runs the checkout (its C speedups compiled for this Python) inside
# Apache: the same requirements as pyproject.toml's "dependencies".
if "$VENV/bin/python" - <<'EOF' 2>/dev/null
import importlib.metadata as m, sys
def at_least(name, major, minor):
    parts = m.version(name).split(".")
    return (int(parts[0]), int(parts[1])) >= (major, minor)
sys.exit(not (at_least("netaddr", 1, 3) and at_least("PyYAML", 6, 0)))
EOF
then
    log "netaddr and PyYAML already installed in $VENV"
else
    log "installing netaddr and PyYAML in $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-cache-dir "netaddr>=1.3" "PyYAML>=6"
fi
# Readable (and traversable) by www-data all the way down.
chmod 0755 "$(dirname "$VENV")" "$VENV"
chmod -R a+rX "$VENV"

log "done: apache2 $(apache2 -v 2>/dev/null | sed -n 's/^Server version: //p'), $(nginx -v 2>&1), $(haproxy -v 2>/dev/null | sed -n 1p | cut -d' ' -f1-3), caddy $(caddy version 2>/dev/null), mod_wsgi-express at $VENV/bin/mod_wsgi-express"
