#!/bin/sh
#  Installs the Debian packages StreamQ-Proxy needs to build and, with the
#  argument "test", to test, when any is missing. Uses sudo when not run
#  as root.
set -e
packages="build-essential pkg-config libzmq3-dev libsodium-dev libmicrohttpd-dev
          libsystemd-dev"
#  The tests also check dist/streamq-rules.yml with promtool, which comes
#  with prometheus (the server too: Debian has no promtool alone), run
#  the Python worker recipe and peer module with python3-zmq, and put
#  two proxies behind HAProxy (test_cluster, make demo-cluster)
[ "${1:-}" = test ] && packages="$packages prometheus python3-zmq haproxy"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
