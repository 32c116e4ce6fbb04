#!/usr/bin/env bash
# The Secrets the Kubernetes deployment reads (deploy/k8s), as YAML on
# stdout for `kubectl apply -n NAMESPACE -f -`:
#   incident-monitor-web     web-config.yml: TLS from the incident-monitor-tls
#                            Secret, one basic-auth user "prometheus" with the
#                            bcrypt hash of a fresh random password
#   incident-monitor-scrape  that user and password, for the ServiceMonitor
# The certificate Secret incident-monitor-tls (tls.crt, tls.key, ca.crt, for
# the DNS name "incident-monitor") comes from cert-manager or
#   kubectl create secret generic incident-monitor-tls --from-file=tls.crt=... \
#     --from-file=tls.key=... --from-file=ca.crt=...
# Needs kubectl and htpasswd (apache2-utils). The password is printed
# nowhere else: read it back with
#   kubectl get secret incident-monitor-scrape -o jsonpath='{.data.password}' | base64 -d
# Usage: scripts/k8s-secrets.sh [USER]
set -euo pipefail
user=${1:-prometheus}
password=$(openssl rand -base64 24)
hash=$(htpasswd -nbBC 10 "" "$password" | tr -d ':\n')
web=$(mktemp)
trap 'rm -f "$web"' EXIT
cat >"$web" <<YAML
# The endpoint's web configuration (exporter-toolkit format, docs/security.md).
tls_server_config:
  cert_file: /etc/incident-monitor/tls/tls.crt
  key_file: /etc/incident-monitor/tls/tls.key
  min_version: TLS12
basic_auth_users:
  $user: '$hash'
YAML
kubectl create secret generic incident-monitor-web --from-file=web-config.yml="$web" \
  --dry-run=client -o yaml
echo ---
kubectl create secret generic incident-monitor-scrape --from-literal=username="$user" \
  --from-literal=password="$password" --dry-run=client -o yaml
