#!/usr/bin/env bash
# The instructor guide's "Laptops without internet", rehearsed on one machine (not by CI: it copies
# about 6 GB of wheels and takes several minutes):
#
#   1. with the network: a wheelhouse of every locked package as wheels (`pip wheel`: a package that
#      ships only source is built now, while its build tools can still be downloaded), with no pip
#      cache, plus the build backend the editable install needs; and the repository as it is
#      committed (the USB stick: commit first);
#   2. inside a network namespace with only loopback up (`unshare -n`, then `ip link set lo up`:
#      Jupyter's kernel talks to papermill over 127.0.0.1), with pip's configuration switched off
#      (its local indexes would be a network the laptops do not have): create the venv, install
#      from the wheelhouse alone, and run notebook 00 with papermill.
#
# Each step's wall time goes to WORKDIR/times.csv (printed at the end, also when a step fails).
# Needs root (unshare), iproute2 (`ip`) and python3-venv; PYTHON chooses the interpreter.
#
#   sudo bash tools/rehearse_offline_room.sh [WORKDIR]      # default /tmp/offline-room
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/offline-room}
python=${PYTHON:-python3}
if [ -e "$work" ] && [ ! -e "$work/.offline-room" ]; then   # never delete a folder this script did not make
    echo "$work exists and is not an earlier rehearsal: choose another WORKDIR"; exit 1
fi
rm -rf "$work" && mkdir -p "$work" && touch "$work/.offline-room"
times="$work/times.csv"
echo "step,seconds" > "$times"
trap 'cat "$times"' EXIT

timed() {   # timed NAME COMMAND...: run it, append its wall time
    local name=$1 start=$SECONDS
    shift
    "$@"
    echo "$name,$((SECONDS - start))" >> "$times"
    echo "== $name: $((SECONDS - start)) s"
}

download() {
    local pip=("$python" -m pip wheel --quiet --progress-bar off --no-cache-dir -w "$work/wheelhouse")
    "${pip[@]}" -r "$root/requirements-lock.txt"
    "${pip[@]}" --no-deps -r "$root/requirements-nodeps.txt"
    "${pip[@]}" "setuptools>=64" wheel
}
timed "download the wheelhouse (with the network)" download
du -sh "$work/wheelhouse" | cut -f1 > "$work/wheelhouse.size"
timed "copy the repository" git clone --quiet "$root" "$work/course"

cat > "$work/inside.sh" <<'INSIDE'
set -euo pipefail
work=$1
ip link set lo up
if python3 -c "import socket; socket.create_connection(('pypi.org', 443), timeout=3)" 2>/dev/null; then
    echo "the network is still up: this is not a rehearsal"; exit 1
fi
# No pip configuration, no local index: the wheelhouse is all there is. A fresh HOME: no caches.
for name in $(compgen -e | grep '^PIP_' || true); do unset "$name"; done
export PIP_CONFIG_FILE=/dev/null HOME="$work/home" PIP_NO_INDEX=1 PIP_FIND_LINKS="$work/wheelhouse"
mkdir -p "$HOME"
cd "$work/course"
source "$work/timing.sh"
timed "create the venv (offline)" "$python" -m venv .venv
install() {
    .venv/bin/pip install --quiet --progress-bar off -r requirements-lock.txt
    .venv/bin/pip install --quiet --progress-bar off --no-deps -e .
    .venv/bin/pip install --quiet --progress-bar off --no-deps -r requirements-nodeps.txt
}
timed "install from the wheelhouse (offline)" install
timed "run notebook 00 with papermill (offline)" env TLCOURSE_PROGRESS=0 .venv/bin/python -m tlcourse.maintain.run \
    --out "$work/out" notebooks/00_concepts.ipynb
INSIDE
declare -f timed > "$work/timing.sh"
declare -p times python >> "$work/timing.sh"
unshare -n bash "$work/inside.sh" "$work"
echo "wheelhouse: $(cat "$work/wheelhouse.size")"
