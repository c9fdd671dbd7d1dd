#!/usr/bin/env bash
# Prepare this machine for afr-box (idempotent): a Docker engine, debootstrap (to make the OS
# base image without a registry), Debian's docker-registry (the cluster tests' loopback registry),
# Debian's chromium (the report tests look at report.html in a real headless browser) and a
# virtual environment with afr-box installed (with ray, for --cluster, and the MLflow/TensorBoard
# clients for export-tracking).
# As root on Debian/Ubuntu it installs and starts what is missing; otherwise it checks.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${AFR_VENV:-.venv}

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
# A registry on loopback for the cluster tests (nodes pull images by digest); labs run their own.
command -v docker-registry >/dev/null 2>&1 || need_pkgs+=(docker-registry)
# A headless browser: the tests open report.html in it and take a screenshot.
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
    # The package enables a registry service on 0.0.0.0:5000; the tests start their own on loopback.
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now docker-registry >/dev/null 2>&1 || true; fi
  else
    echo "[setup] missing: ${need_pkgs[*]} (install them, or run as root on Debian/Ubuntu)" >&2
  fi
fi

if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null; then
    echo "[setup] starting dockerd (log: /var/log/afr-dockerd.log)"
    nohup dockerd >/var/log/afr-dockerd.log 2>&1 &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  fi
  docker info >/dev/null 2>&1 || { echo "[setup] no Docker engine answers: start one and retry" >&2; exit 1; }
fi

if [ ! -x "$VENV/bin/afr-box" ] || [ pyproject.toml -nt "$VENV/.afr-installed" ]; then
  echo "[setup] installing afr-box into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip setuptools wheel 2>&1 | grep -v WARNING || true
  # torch first, pinned: a range would pull a multi-GB build.
  "$VENV/bin/pip" install -q torch==2.13.0 2>&1 | grep -v WARNING || true
  "$VENV/bin/pip" install -q -e ".[runtime,test,cluster,mlflow,tensorboard]" 2>&1 | grep -v WARNING || true
  "$VENV/bin/afr-box" --help >/dev/null
  touch "$VENV/.afr-installed"
fi
echo "[setup] ready: docker $(docker version --format '{{.Server.Version}}'), $("$VENV/bin/python" --version)"
