#!/usr/bin/env bash
# The opening-night rush with the server and the simulator in separate
# processes, so that each one's memory (VmHWM) and CPU time is measured on
# its own (in `vaxbook rush -embedded` they share one process).
#
#   scripts/rush-apart.sh OUT [PEOPLE]     (PEOPLE default 1000000)
#
# 1. seeds a demo country of COUNTRY people (default 11,511,413: what
#    rush.CountryFor gives for 1,000,000 people on one rotation day) with
#    `vaxbook serve`, then stops it;
# 2. starts `vaxbook serve -demo-opens-in 4m` on that store (a fresh
#    process: it carries nothing of the seeding) on 127.0.0.1:18081;
# 3. runs `vaxbook rush -target` all at once against it, with a CPU and a
#    heap profile of the simulator, while the node's CPU profiles
#    (/debug/pprof/profile, one every PROFILE_S seconds, default 600:
#    node-cpu-N.pprof), its heap every 3 minutes, its RSS every 20 s and
#    its waiting-room metrics every 15 s (node-waitroom.txt: rate, stage
#    bound, stage time, measured stay, …) are taken;
# 4. writes OUT/node-final.txt (the node's VmHWM, VmRSS, CPU ticks) and
#    leaves the node running for inspection (its pid in OUT/serve.pid).
#
# Everything runs on 127.0.0.1 and is bounded (-timeout 80m).
set -uo pipefail
OUT=${1:?usage: scripts/rush-apart.sh OUT [PEOPLE]}
PEOPLE=${2:-1000000}
COUNTRY=${COUNTRY:-11511413}
ADDR=127.0.0.1:18081
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"
cd "$OUT"
(cd "$ROOT" && go build -o "$OUT/vaxbook" ./cmd/vaxbook) || exit 1

if [ ! -f data/demo-seed.json ]; then
  ./vaxbook serve -data-dir data -addr "$ADDR" -demo-people "$COUNTRY" >seed.out 2>seed.err &
  pid=$!
  until grep -q listening seed.out 2>/dev/null; do
    kill -0 $pid 2>/dev/null || { echo "seeding failed: see $OUT/seed.err"; exit 1; }
    sleep 2
  done
  kill -INT $pid; wait $pid
fi

./vaxbook serve -data-dir data -addr "$ADDR" -demo-people "$COUNTRY" -demo-opens-in "${OPENS_IN:-4m}" >serve.out 2>serve.err &
SPID=$!
echo $SPID >serve.pid
until grep -q listening serve.out 2>/dev/null; do
  kill -0 $SPID 2>/dev/null || { echo "serve failed: see $OUT/serve.err"; exit 1; }
  sleep 1
done
PW=$(grep -o 'password [a-z0-9]*' serve.out | awk '{print $2}')
( n=0; while kill -0 $SPID 2>/dev/null; do
    n=$((n+1)); curl -s -u "admin:$PW" -o "node-cpu-$n.pprof" "http://$ADDR/debug/pprof/profile?seconds=${PROFILE_S:-600}"
  done ) &
( while kill -0 $SPID 2>/dev/null; do
    echo "$(date +%s) $(curl -s -u "admin:$PW" "http://$ADDR/metrics" | grep -E '^vaxbook_waitroom_(stage_bound|stage_time_seconds|stage_stay_seconds|stage_finishing_per_second|active|unclaimed|waiting|rate_per_second|outflow_per_second) ' | awk '{printf "%s=%s ", substr($1,18), $2}')" >>node-waitroom.txt
    sleep 15
  done ) &
( while kill -0 $SPID 2>/dev/null; do
    echo "$(date +%s) $(grep -E 'VmRSS|VmHWM' /proc/$SPID/status | awk '{print $2}' | tr '\n' ' ')$(awk '{print $14+$15}' /proc/$SPID/stat)" >>node-mem.txt
    sleep 20
  done ) &
( n=0; while kill -0 $SPID 2>/dev/null; do
    sleep 180; n=$((n+1)); curl -s -u "admin:$PW" -o "node-heap-$n.pprof" "http://$ADDR/debug/pprof/heap"
  done ) &
/usr/bin/time -v ./vaxbook rush -target "http://$ADDR" -db data/vaxbook.db -seed-config data/demo-seed.json \
  -people "$PEOPLE" -profile all-at-once -timeout 80m -progress off -out report \
  -cpuprofile rush-cpu.pprof -memprofile rush-heap.pprof >rush.out 2>rush.err
echo "rush exit $?" >>rush.out
{ grep -E 'VmHWM|VmRSS' /proc/$SPID/status; awk '{print "cpu_ticks", $14+$15}' /proc/$SPID/stat; } >node-final.txt
sed -n '1,12p' rush.out
grep -E 'OK:|VIOLATIONS|Maximum resident' rush.out rush.err
cat node-final.txt
