#!/usr/bin/env bash
# Creates a development CA and certificates for Quicksilver's gRPC links, plus bearer tokens:
#   ca.crt / ca.key                  the dev CA (trust it in tlsCaFile / tlsClientCaFile)
#   coordinator.crt / .key           server certificate, SAN localhost, 127.0.0.1, ::1 (+ --host names):
#                                    the only certificate valid for the coordinator's names
#   worker-<id>.crt / .key           client certificate CN "worker:<id>"; also a server certificate for the
#                                    worker's TLS health service, for the name <id> only (SAN DNS:<id>)
#   station-<id>.crt / .key          client certificate CN "station:<id>", no SAN
#   tokens.json                      the coordinator's authTokensFile {"stations":{...},"workers":{...}}
#   station-<id>.token, worker-<id>.token   each client's authTokenFile
# For demos and tests only: keys are unencrypted and the CA key sits beside them. See docs/security.md.
#
# Usage: scripts/dev-certs.sh [--out DIR] [--stations a,b] [--workers x,y] [--host NAME]... [--days N]
set -euo pipefail

out=./dev-certs
stations=station-1
workers=worker-1
hosts=()
days=30
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --stations) stations=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --host) hosts+=("$2"); shift 2 ;;
    --days) days=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "dev-certs.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
command -v openssl >/dev/null || { echo "dev-certs.sh: openssl not found (sudo apt-get install -y openssl)" >&2; exit 1; }
valid_id='^[A-Za-z0-9._:-]{1,128}$'
mkdir -p "$out"
umask 077

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" -subj "/CN=Quicksilver dev CA" \
  -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null

# issue NAME CN EXT: key + certificate signed by the dev CA with the given v3 extensions.
issue() {
  local name=$1 cn=$2 ext=$3
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" -keyout "$out/$name.key" -out "$out/$name.csr" 2>/dev/null
  openssl x509 -req -in "$out/$name.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial -days "$days" \
    -extfile <(printf '%s\n' "$ext") -out "$out/$name.crt" 2>/dev/null
  rm -f "$out/$name.csr"
}

san="DNS:localhost,IP:127.0.0.1,IP:::1"
coordinator_names=" localhost 127.0.0.1 ::1 "
for h in "${hosts[@]}"; do
  if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then san+=",IP:$h"; else san+=",DNS:$h"; fi
  coordinator_names+="${h,,} "
done
server_ext="basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$san"
issue coordinator coordinator "$server_ext"

token() { openssl rand -hex 32; }
json_entries=()
for role in station worker; do
  list=$([[ $role == station ]] && echo "$stations" || echo "$workers")
  entries=""
  IFS=',' read -ra ids <<<"$list"
  for id in "${ids[@]}"; do
    [[ $id =~ $valid_id ]] || { echo "dev-certs.sh: '$id' is not a valid $role id ([A-Za-z0-9._:-]{1,128})" >&2; exit 2; }
    # Clients get clientAuth and none of the coordinator's names: a worker or station key must not
    # pass for the coordinator. A worker serves its health service with its certificate, so it is
    # also a server certificate for its own id (when that is a DNS name): clients dial it with that name.
    ext="basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    if [[ $role == worker && $id =~ ^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$ && ! $id =~ ^[0-9.]+$ ]]; then
      [[ $coordinator_names == *" ${id,,} "* ]] && { echo "dev-certs.sh: worker id '$id' is also a coordinator name (localhost or --host): choose another" >&2; exit 2; }
      ext="${ext},serverAuth
subjectAltName=DNS:$id"
    fi
    issue "$role-$id" "$role:$id" "$ext"
    t=$(token)
    printf '%s\n' "$t" >"$out/$role-$id.token"
    entries+="${entries:+,}\"$id\":\"$t\""
  done
  json_entries+=("\"${role}s\":{$entries}")
done
printf '{%s,%s}\n' "${json_entries[0]}" "${json_entries[1]}" >"$out/tokens.json"
rm -f "$out/ca.srl"
echo "dev certificates and tokens written to $out (CA: $out/ca.crt; coordinator: $out/coordinator.crt; tokens: $out/tokens.json)"
