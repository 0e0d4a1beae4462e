#!/usr/bin/env bash
# create-certs.sh makes the fleet's mutual-TLS certificates with openssl, in
# ./.certs: a CA, one server certificate valid for both Services' names, and
# the client certificate bakery presents. It then prints the kubectl commands
# that store them as the Secrets buildkitd.yaml mounts (daemon) and bakery's
# CI reads (client). Keep the CA key offline.
set -euo pipefail
NS=${1:-default}
dir=.certs
mkdir -p "$dir" && cd "$dir"
names="DNS:buildkitd-amd64,DNS:buildkitd-amd64.$NS.svc,DNS:buildkitd-arm64,DNS:buildkitd-arm64.$NS.svc"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
  -subj "/CN=bakery buildkitd CA" -keyout ca-key.pem -out ca.pem
sign() { # NAME SUBJECT EXTENSIONS
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1-key.pem" -subj "$2" -out "$1.csr"
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 365 -extfile "$1.ext" -out "$1.pem"
  rm -f "$1.csr" "$1.ext"
}
sign daemon "/CN=buildkitd" "subjectAltName=$names
extendedKeyUsage=serverAuth"
sign client "/CN=bakery" "extendedKeyUsage=clientAuth"

cat <<MSG
Certificates are in $PWD. Store them:
  kubectl -n $NS create secret generic buildkit-daemon-certs --from-file=ca.pem=ca.pem --from-file=cert.pem=daemon.pem --from-file=key.pem=daemon-key.pem
  kubectl -n $NS create secret generic buildkit-client-certs --from-file=ca.pem=ca.pem --from-file=cert.pem=client.pem --from-file=key.pem=client-key.pem
MSG
