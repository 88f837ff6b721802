#!/bin/sh
#  Installs what the benchmarks compare against or draw with (HAProxy,
#  socat, gnuplot), when missing and apt-get can. Never fails: a contender
#  that stays missing is skipped by bench/run.sh with a note.
missing=""
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing="$missing haproxy"
command -v socat >/dev/null 2>&1 || missing="$missing socat"
command -v gnuplot >/dev/null 2>&1 || missing="$missing gnuplot-nox"
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "bench: no apt-get; missing:$missing (those parts are skipped)"
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    else
        echo "bench: not root and no sudo; missing:$missing (those parts are skipped)"
        exit 0
    fi
fi
echo "bench: installing:$missing"
#  Try the package lists as they are first; refresh them only if that fails
for package in $missing; do
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$package" >/dev/null 2>&1 \
    || { $sudo apt-get update -qq >/dev/null 2>&1
         DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$package" >/dev/null 2>&1; } \
    || echo "bench: could not install $package (skipped)"
done
exit 0
