#!/usr/bin/env bash
# A real network path on one machine (as root): SERVER in one network namespace, CLIENT in
# another, a veth pair with tc netem on both ends between them; everything is removed afterwards,
# after a failure or Ctrl-C too. The helper is bindings/tlslab/netpath.py (also `tlslab.netpath`
# in Python); `scripts/netpath.sh --help` lists its flags. Example:
#   scripts/netpath.sh --delay 5ms --loss 1 \
#     --server 'build/tlslab serve --listen {server_addr} --ports-file {dir}/ports --duration 0' \
#     --client 'build/tlslab check --targets-file {dir}/ports --duration 10s'
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${TLSLAB_PYTHON:-/usr/bin/python3}" "$here/../bindings/tlslab/netpath.py" "$@"
