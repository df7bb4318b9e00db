#!/usr/bin/env bash
# A whole consortium on one machine, each organisation in its own folder, each running only
# its own documented commands (docs/deployment.md walks through the same steps):
#
#   WORKDIR/ca          the CA operator (the consortium CA; revokes certificates)
#   WORKDIR/hub         the hub (no patient row, no other organisation's key)
#   WORKDIR/researcher  the researcher "lab"
#   WORKDIR/site-a|b|c  three hospitals: their keys, policy, rows (CSV, with patient ids)
#
# Every site forces secure aggregation; the data owners approve the study's functions from
# their own sites while the plan waits; a second plan goes to the same running hub; then the
# CA operator revokes site-c's certificate and the hub refuses it. WORKDIR/summary.json holds
# the figures, the ledger-recorded ones and the simulation's (WORKDIR/simulation: every row
# in one place, for the comparison only). Exits 0 only when both plans finished.
#
#   deploy/example/consortium.sh WORKDIR [STUDY]
#
# ACCORD_HUB_USER=NAME (as root): the hub runs as that unprivileged user, and no other
# organisation's folder is readable by it. ACCORD=/path/to/accord picks the installation.
set -euo pipefail

WORKDIR=${1:?usage: consortium.sh WORKDIR [STUDY]}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STUDY=${2:-$HERE/hcc-study.toml}
ACCORD=${ACCORD:-$(command -v accord)}
PY=$(dirname "$ACCORD")/python
[ -x "$PY" ] || PY=python3
HUB_USER=${ACCORD_HUB_USER:-}
PATIENTS=${ACCORD_PATIENTS:-60}
SITES=(site-a site-b site-c)

say() { printf '\n== %s  (%s)\n' "$*" "$(date +%T)"; }
as_hub() {  # the hub's commands run as its own user when one is given
  if [ -n "$HUB_USER" ]; then runuser -u "$HUB_USER" -- "$@"; else "$@"; fi
}
hand_over() {  # a file sent to the hub's operator (by mail, a USB stick, ...)
  cp "$1" "$2"
  if [ -n "$HUB_USER" ]; then chown -R "$HUB_USER" "$WORKDIR/hub"; fi
}
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

[ -e "$WORKDIR" ] && { echo "$WORKDIR exists; give a new folder" >&2; exit 2; }
mkdir -p "$WORKDIR"/{ca,hub,researcher,site-a,site-b,site-c}
WORKDIR=$(cd "$WORKDIR" && pwd)
chmod 755 "$WORKDIR"
cd "$WORKDIR"
if [ -n "$HUB_USER" ]; then
  chown -R "$HUB_USER" hub
  chmod 700 ca researcher "${SITES[@]}"
fi
PORT=${ACCORD_PORT:-$(free_port)}
URL=https://127.0.0.1:$PORT
cleanup() {  # stop the hub and the sites (SIGTERM: each stops cleanly)
  pkill -TERM -f -- "serve --config $WORKDIR/" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

say "1. The CA operator creates the consortium CA and its own member card"
"$ACCORD" ca init --out ca --consortium "HCC consortium"
"$ACCORD" member enroll --role operator --org operator --out ca
"$ACCORD" ca sign ca/operator.card.json --ca ca --out ca

say "2. Every member makes its keys on its own machine and hands over only its card"
as_hub "$ACCORD" hub enroll --org hub --out hub --host 127.0.0.1 --host localhost
"$ACCORD" researcher enroll --org lab --out researcher
for s in "${SITES[@]}"; do "$ACCORD" site enroll --org "$s" --out "$s"; done

say "3. The CA operator signs each card's request; each member gets its certificate and ca.crt"
mkdir -p ca/issued
for card in hub/hub.card.json researcher/lab.card.json site-*/site-*.card.json; do
  "$ACCORD" ca sign "$card" --ca ca --out ca/issued
done
hand_over ca/issued/hub.crt hub/hub.crt
hand_over ca/ca.crt hub/ca.crt
cp ca/issued/lab.crt ca/ca.crt researcher/
for s in "${SITES[@]}"; do cp "ca/issued/$s.crt" ca/ca.crt "$s/"; done

say "4. The hub operator founds the ledger from the cards alone"
as_hub mkdir -p hub/cards
for card in ca/operator.card.json researcher/lab.card.json site-*/site-*.card.json; do
  hand_over "$card" "hub/cards/$(basename "$card")"
done
as_hub "$ACCORD" consortium init hub --name "HCC consortium" --member hub/hub.card.json \
  --member hub/cards/operator.card.json --member hub/cards/lab.card.json \
  --member hub/cards/site-a.card.json --member hub/cards/site-b.card.json \
  --member hub/cards/site-c.card.json
for member in ca researcher "${SITES[@]}"; do cp hub/anchor.json "$member/anchor.json"; done

say "5. The hub starts and stays up"
as_hub tee hub/hub.toml >/dev/null <<EOF
[hub]
listen = "127.0.0.1:$PORT"
key = "hub.key"
timeout = 120
parallel = 1

[tls]
cert = "hub.crt"
key = "hub.tls.key"
ca = "ca.crt"
EOF
as_hub env PYTHONUNBUFFERED=1 "$ACCORD" hub serve --config "$WORKDIR/hub/hub.toml" \
  >>hub/hub.log 2>&1 &
for _ in $(seq 100); do grep -q "hub serving" hub/hub.log 2>/dev/null && break; sleep 0.3; done

say "6. Each hospital registers its own dataset (its rows stay in its folder) and serves"
"$ACCORD" synth hcc --sites 3 --patients "$PATIENTS" --slide-size 512 --out .hospitals >/dev/null
for i in 1 2 3; do mv ".hospitals/site0$i" "${SITES[$((i - 1))]}/data"; done
rm -rf .hospitals
for s in "${SITES[@]}"; do
  cat >"$s/site.toml" <<EOF
[site]
org = "$s"
hub = "$URL"

[tls]
cert = "$s.crt"
key = "$s.tls.key"
ca = "ca.crt"

[ledger]
anchor = "anchor.json"

[policy]
require-approval = true
force-secure-aggregation = true
min-cohort-size = 20
allow-tile-export = false
EOF
  "$ACCORD" site dataset add hcc --path "$s/data" --config "$s/site.toml" --permit lab \
    --id-column patient_id --event-column os_event
  PYTHONUNBUFFERED=1 "$ACCORD" site serve --config "$WORKDIR/$s/site.toml" --poll-wait 2 \
    >>"$s/site.log" 2>&1 &
done

say "7. The researcher submits the study from its own machine"
cat >researcher/researcher.toml <<EOF
[researcher]
org = "lab"
hub = "$URL"

[tls]
cert = "lab.crt"
key = "lab.tls.key"
ca = "ca.crt"

[ledger]
anchor = "anchor.json"
EOF
R=(--hub "$URL" --config researcher/researcher.toml)
"$ACCORD" submit "$STUDY" "${R[@]}" --seed 0 | tee researcher/submit-1.txt
RUN1=$(grep -o 'as plan run-[0-9a-f]*' researcher/submit-1.txt | cut -d' ' -f3)
run_state() { "$ACCORD" status "$1" "${R[@]}" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["state"])'; }
for _ in $(seq 100); do [ "$(run_state "$RUN1")" = "waiting for approval" ] && break; sleep 0.3; done
"$ACCORD" status "$RUN1" "${R[@]}"

say "8. Each data owner reviews the functions and approves them from its own site"
for s in "${SITES[@]}"; do
  "$ACCORD" site functions --hub "$URL" --site "$s" --config "$s/site.toml" >"$s/review.txt"
  for h in $(grep -o '^  function [0-9a-f]*' researcher/submit-1.txt | cut -d' ' -f4); do
    "$ACCORD" site approve "$h" --hub "$URL" --site "$s" --config "$s/site.toml"
  done
done

wait_for() {  # until the run ends; fail unless it finished
  local state
  for _ in $(seq 1200); do
    state=$(run_state "$1")
    case "$state" in
      finished) echo "plan $1 finished"; return 0 ;;
      failed | rejected) "$ACCORD" status "$1" "${R[@]}"; echo "plan $1 $state" >&2; return 1 ;;
    esac
    sleep 1
  done
  echo "plan $1 did not finish in time" >&2
  return 1
}
wait_for "$RUN1"

say "9. A second plan on the same running hub (functions approved already: it starts at once)"
"$ACCORD" submit "$STUDY" "${R[@]}" --seed 1 | tee researcher/submit-2.txt
RUN2=$(grep -o 'as plan run-[0-9a-f]*' researcher/submit-2.txt | cut -d' ' -f3)
wait_for "$RUN2"

say "10. The researcher rebuilds both plans' results from the verified ledger"
"$ACCORD" results "$RUN1" "${R[@]}" --out "researcher/results/$RUN1"
"$ACCORD" results "$RUN2" "${R[@]}" --out "researcher/results/$RUN2"
"$ACCORD" status "${R[@]}"

say "11. The CA operator revokes site-c's certificate with its own credential"
"$ACCORD" ca revoke site-c/site-c.crt --reason "left the consortium" --out ca/revoke-site-c.json \
  --hub "$URL" --signing-key ca/operator.key --tls ca
for _ in $(seq 60); do
  "$ACCORD" status "${R[@]}" --json | grep -q 'site-c.*revoked\|revoked.*site-c' && break
  sleep 1
done

say "12. The simulation of the same study and seed, for comparison (every row in one place)"
mkdir -p simulation/data
for s in "${SITES[@]}"; do ln -s "$WORKDIR/$s/data" "simulation/data/$s"; done
"$ACCORD" run "$STUDY" --data simulation/data --out simulation/run --seed 0 >simulation/run.txt

"$PY" - "$WORKDIR" "$RUN1" "$RUN2" <<'EOF'
import json, sys
from pathlib import Path
work, run1, run2 = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
sim = json.loads((work / "simulation/run/results.json").read_text())
def figures(doc, method):
    m = doc["methods"][method]
    return {"consortium_cindex": m["consortium_cindex"],
            "sites": {s: f["harrell_c"] for s, f in sorted(m["per_site"].items())}}
plans = {}
for run in (run1, run2):
    ledger = json.loads((work / "researcher/results" / run / "results.json").read_text())
    plans[run] = {"status": ledger["status"], "seed": ledger["seed"],
                  "methods": {m: figures(ledger, m) for m in ledger["methods"]}}
first = plans[run1]["methods"]
equal = all(
    abs(first[m]["consortium_cindex"] - figures(sim, m)["consortium_cindex"]) < 5e-6
    and all(abs(v - figures(sim, m)["sites"][s]) < 5e-6 for s, v in first[m]["sites"].items())
    for m in first
)
summary = {
    "plans": plans,
    "simulation": {m: figures(sim, m) for m in first},
    "equal_to_simulation": equal,
}
(work / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
print(json.dumps({"equal_to_simulation": equal,
                  "fedavg": first.get("fedavg", {}).get("consortium_cindex")}))
sys.exit(0 if equal and all(p["status"] == "finished" for p in plans.values()) else 1)
EOF
say "done: $WORKDIR/summary.json"
