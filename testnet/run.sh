#!/usr/bin/env bash
# A local lagrange-node testnet of separate processes on 127.0.0.1: gateways and provers,
# a workload submitted over gRPC, optional chaos (kill -9) and an intruder, and an audit
# that fails the run if any task is lost, any result does not verify, any job is paid
# twice or the intruder gets anything. See testnet/README.md.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: testnet/run.sh [options]
  --nodes N         processes in the network, gateways included (default 5)
  --tasks N         query tasks to submit (default 10)
  --rows N          rows per task; 32 rows make one small job (default 100)
  --supernets 1|2   one permissioned Supernet, or two isolated ones: testnet-a
                    (permissioned, allowlisted peers only) and testnet-b (open), each with
                    its own gateway; every prover is in both, from one process (default 1)
  --intruder        add a prover that is not on the allowlist and tries to bid
  --chaos [MODE]    while tasks are in flight:
                    kill (default): kill -9 a prover that holds a job, kill -9 the gateway
                      and restart it on its data directory, restart the prover;
                    gateway-outage: kill -9 the gateway while provers hold jobs and keep it
                      down longer than the proving window, then restart it; no prover may
                      be penalized for it
                    commit-reveal: kill -9 a prover the moment the gateway takes its commit
                      (before it reveals) and restart it at once, several times over; it
                      must reveal after the restart, and no prover may be penalized
  --chain           every task's rows are recorded in a RowLog on a real EVM node (Hardhat's,
                    from contracts/node_modules: npm ci there first) and read back from its
                    events (`submit query --from-chain`); the gateways deliver each result to
                    a QueryResults there, and the answer each holds is checked against the
                    task's result
  --skew MS         provers' clocks run MS ms behind (odd nodes) or ahead (even nodes) of
                    the gateways'; no prover may be penalized for it
  --drop-results P  gateways drop P% of their auction results instead of gossiping them;
                    winners must learn of their jobs anyway
  --soak DURATION   instead of --tasks: a steady stream of tasks for DURATION (90s, 30m,
                    1h), with a prover killed (-9) and restarted every --kill-every; samples
                    memory, open files, store size, throughput and latency and fails on
                    unbounded growth or a lost task (writes soak.csv and soak.svg)
  --rate SECS       soak: seconds between tasks (default 5)
  --sample-secs N   soak: seconds between samples (default 60)
  --kill-every SECS soak: seconds between prover kills, 0 for none (default 300)
  --store-cache-mb N the gateways' store page cache, MiB (default: the node's, 64)
  --retention-secs N the gateways prune finished tasks and auctions N seconds after they
                    end (default: the node's, a week)
  --timeout SECS    hard limit for the whole run (default 600; soak: its duration + 600)
  --base-port N     first port used (default 27000; uses N..N+399)
  --dir DIR         working directory (default target/testnet; wiped first)
  --release         build and run the release binary (default: the dev build)
  --no-build        use the binary already built (target/debug or target/release)
  --keep            leave the working directory (logs, stores) in place on success
EOF
}

NODES=5 TASKS=10 ROWS=100 SUPERNETS=1 INTRUDER=0 CHAIN=0 CHAOS=0 CHAOS_MODE=kill TIMEOUT=600
SKEW=0 DROP_RESULTS=0 SOAK=0 RATE=5 SAMPLE_SECS=60 KILL_EVERY=300 TIMEOUT_SET=0 STORE_CACHE_MB="" RETENTION_SECS=""
BASE_PORT=27000 DIR="" PROFILE=debug KEEP=0 BUILD=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --nodes) NODES="$2"; shift 2 ;;
    --tasks) TASKS="$2"; shift 2 ;;
    --rows) ROWS="$2"; shift 2 ;;
    --supernets) SUPERNETS="$2"; shift 2 ;;
    --intruder) INTRUDER=1; shift ;;
    --chain) CHAIN=1; shift ;;
    --chaos)
      CHAOS=1; shift
      if [[ $# -gt 0 && $1 != --* ]]; then CHAOS_MODE="$1"; shift; fi ;;
    --skew) SKEW="$2"; shift 2 ;;
    --drop-results) DROP_RESULTS="$2"; shift 2 ;;
    --soak) SOAK="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --sample-secs) SAMPLE_SECS="$2"; shift 2 ;;
    --kill-every) KILL_EVERY="$2"; shift 2 ;;
    --store-cache-mb) STORE_CACHE_MB="$2"; shift 2 ;;
    --retention-secs) RETENTION_SECS="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; TIMEOUT_SET=1; shift 2 ;;
    --base-port) BASE_PORT="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    --release) PROFILE=release; shift ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$SUPERNETS" == 1 || "$SUPERNETS" == 2 ]] || { echo "--supernets must be 1 or 2" >&2; exit 2; }
MIN_NODES=$((SUPERNETS * 2))
((NODES >= MIN_NODES)) || { echo "--nodes must be at least $MIN_NODES (a gateway and a prover per supernet)" >&2; exit 2; }
((TASKS >= 1)) || { echo "--tasks must be at least 1" >&2; exit 2; }
HARDHAT="$(cd "$(dirname "$0")/.." && pwd)/contracts/node_modules/.bin/hardhat"
((CHAIN == 0)) || [[ -x $HARDHAT ]] || { echo "--chain needs Hardhat's node: run npm ci in contracts/" >&2; exit 2; }
[[ $CHAOS_MODE =~ ^(kill|gateway-outage|commit-reveal)$ ]] || { echo "--chaos mode must be kill, gateway-outage or commit-reveal" >&2; exit 2; }
# --soak 90s | 30m | 1h | 600 (seconds)
if [[ $SOAK != 0 ]]; then
  case "$SOAK" in
    *h) SOAK=$((${SOAK%h} * 3600)) ;;
    *m) SOAK=$((${SOAK%m} * 60)) ;;
    *s) SOAK=${SOAK%s} ;;
  esac
  [[ $SOAK =~ ^[0-9]+$ ]] && ((SOAK >= 30)) || { echo "--soak takes a duration of at least 30s (90s, 30m, 1h)" >&2; exit 2; }
  ((CHAOS == 0)) || { echo "--soak brings its own kills; drop --chaos" >&2; exit 2; }
  ((CHAIN == 0)) || { echo "--soak and --chain do not go together" >&2; exit 2; }
  ((TIMEOUT_SET)) || TIMEOUT=$((SOAK + 600))
fi

# A small proof takes well under a second on an idle core, but a testnet packs several
# provers onto few cores; the deadline leaves room for that.
DEADLINE_MS=20000
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${DIR:-$ROOT/target/testnet}"
START=$(date +%s)
log() { printf '[%4ss] %s\n' "$(($(date +%s) - START))" "$*"; }

# ---- teardown: every process we start runs in the background of this shell (the nodes,
# recorded in PIDS, and helpers: the watchdog, the soak's clients) and is killed on any
# exit: pass, failure, Ctrl-C or the hard timeout. Helpers keep their output away from
# ours, so nothing left running could hold a caller's pipe open. ----
declare -A PIDS=()
CHAOS_LOG=()
OK=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Every background child still running; a helper stops its own child when told to
  # (stop_with_children).
  for pid in $(jobs -pr); do kill -TERM "$pid" 2>/dev/null || true; done
  for name in "${!PIDS[@]}"; do kill -TERM "${PIDS[$name]}" 2>/dev/null || true; done
  for name in "${!PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "${PIDS[$name]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${PIDS[$name]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [[ $OK == 1 && $KEEP == 0 ]]; then rm -rf "$DIR/nodes"; fi
  if [[ $OK != 1 ]]; then echo "testnet: FAILED (logs under $DIR/nodes/*/node.log)" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "testnet: interrupted" >&2; exit 130' INT
trap 'echo "testnet: hard timeout of ${TIMEOUT}s reached" >&2; exit 124' TERM
# Runs a command as a child of this subshell and waits for it; a TERM to the subshell stops
# the child too, so killing a helper never leaves its child behind. For helpers' subshells
# only: in the script itself it would replace the TERM trap above.
stop_with_children() {
  local child
  trap '[[ -n ${child:-} ]] && kill -TERM "$child" 2>/dev/null; exit 143' TERM
  "$@" &
  child=$!
  wait "$child"
}
# The hard timeout: TERM to this script once it has run for TIMEOUT seconds.
MAIN_PID=$$
( stop_with_children sleep "$TIMEOUT" && kill -TERM "$MAIN_PID" 2>/dev/null ) </dev/null >/dev/null 2>&1 &

# ---- build once ----
cd "$ROOT"
if ((BUILD)); then
  if [[ $PROFILE == release ]]; then
    cargo build --release -p lagrange-node -q
  else
    cargo build -p lagrange-node -q
  fi
fi
BIN="$ROOT/target/$PROFILE/lagrange-node"
[[ -x $BIN ]] || { echo "no binary at $BIN (drop --no-build)" >&2; exit 2; }
rm -rf "$DIR"
mkdir -p "$DIR/nodes"

# A plain HTTP GET over bash's /dev/tcp (no curl needed): prints the body.
http_get() { # host:port path
  local host=${1%:*} port=${1#*:}
  exec 9<>"/dev/tcp/$host/$port" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$1" >&9
  sed '1,/^\r$/d' <&9
  exec 9<&-
}
http_status() { # host:port path -> status code
  local host=${1%:*} port=${1#*:}
  { exec 9<>"/dev/tcp/$host/$port"; } 2>/dev/null || { echo 000; return; }
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$1" >&9
  head -n1 <&9 | awk '{print $2}'
  exec 9<&-
}
# The value of one metric line (exact name and labels), or 0.
metric() { # host:port 'name{labels}'
  http_get "$1" /metrics 2>/dev/null | awk -v m="$2" '$1 == m { print $2; found=1 } END { if (!found) print 0 }'
}
# The sum of every line of a metric whose labels include `label` (e.g. verdict="honest").
metric_sum() { # host:port name label
  http_get "$1" /metrics 2>/dev/null |
    awk -v m="$2" -v l="$3" 'index($1, m "{") == 1 && index($1, l) { s += $2 } END { print s + 0 }'
}
wait_for() { # description seconds command...
  local what=$1 secs=$2; shift 2
  local until=$(($(date +%s) + secs))
  until "$@"; do
    if (($(date +%s) >= until)); then echo "timed out after ${secs}s waiting for $what" >&2; return 1; fi
    sleep 0.2
  done
}

# ---- the nodes: names, roles, supernets, ports ----
# node0 is testnet-a's gateway; with two supernets node1 is testnet-b's. The remaining
# nodes are provers, dealt to the supernets in turn.
NAMES=() ROLE=() NET=() JOINED=() P2P=() GRPC=() METRICS=() PEER=() PUBKEY=()
for ((i = 0; i < NODES; i++)); do
  NAMES+=("node$i")
  if ((i < SUPERNETS)); then ROLE+=(gateway); else ROLE+=(prover); fi
  if ((i < SUPERNETS)); then n=$i; else n=$(((i - SUPERNETS) % SUPERNETS)); fi
  if ((n == 0)); then NET+=(testnet-a); else NET+=(testnet-b); fi
  P2P+=($((BASE_PORT + i))); GRPC+=($((BASE_PORT + 100 + i))); METRICS+=($((BASE_PORT + 200 + i)))
done
if ((INTRUDER)); then
  i=$NODES
  NAMES+=(intruder); ROLE+=(prover); NET+=(testnet-a)
  P2P+=($((BASE_PORT + i))); GRPC+=(0); METRICS+=($((BASE_PORT + 200 + i)))
fi
COUNT=${#NAMES[@]}

gateway_of() { # supernet -> index of its gateway
  if [[ $1 == testnet-a ]]; then echo 0; else echo 1; fi
}

# ---- keys (deterministic), parameters, supernet configs, node configs ----
log "generating keys, parameters and configs in $DIR"
for ((i = 0; i < COUNT; i++)); do
  d="$DIR/nodes/${NAMES[$i]}"
  mkdir -p "$d"
  out=$("$BIN" keygen --out "$d/node.key" --insecure-seed $((1000 + i)))
  PEER+=("$(sed -n 's/.*peer id \([^;]*\);.*/\1/p' <<<"$out")")
  PUBKEY+=("$(sed -n 's/.*public key \(.*\)$/\1/p' <<<"$out")")
done
# ---- the chain (--chain): Hardhat's node on the last port of the range, the verifier and a
# QueryResults deployed, one RowLog holding the rows every task reads. The keys are
# Hardhat's first development accounts, publicly known: #0 deploys and records, #1 and #2
# pay for the gateways' deliveries. ----
CHAIN_ID=31337 RPC="http://127.0.0.1:$((BASE_PORT + 399))"
ETH_KEYS=(ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
  59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
  5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a)
chain_cmd() { "$BIN" chain --rpc "$RPC" --chain-id "$CHAIN_ID" --eth-key-file "$DIR/eth.key" "$@"; }
if ((CHAIN)); then
  echo "${ETH_KEYS[0]}" >"$DIR/eth.key"
  (cd "$ROOT/contracts" && HARDHAT_DISABLE_TELEMETRY_PROMPT=true exec "$HARDHAT" node \
    --hostname 127.0.0.1 --port $((BASE_PORT + 399)) >"$DIR/hardhat.log" 2>&1) &
  wait_for "Hardhat's node to start" 90 grep -q "Started HTTP" "$DIR/hardhat.log"
fi
# Parameters from a public seed (INSECURE: testnets only). Gateways have them; provers fetch
# them from their bootnode and check them against the pinned digest.
mkdir -p "$DIR/params"
"$BIN" setup-insecure coprocessor-sum-v1/small --params-dir "$DIR/params" --seed 7 >"$DIR/circuits.toml" 2>/dev/null
if ((CHAIN)); then
  chain_cmd deploy --circuit coprocessor-sum-v1/small --params-dir "$DIR/params" | tee "$DIR/chain.log" | sed 's/^/  /'
  QUERY_RESULTS=$(sed -n 's/^QueryResults at \(0x[0-9a-fA-F]*\).*/\1/p' "$DIR/chain.log")
  chain_cmd record --sample-rows "$ROWS" | tee -a "$DIR/chain.log" | sed 's/^/  /'
  ROW_LOG=$(sed -n 's/^RowLog at \(0x[0-9a-fA-F]*\).*/\1/p' "$DIR/chain.log")
  [[ -n $QUERY_RESULTS && -n $ROW_LOG ]] || { echo "testnet: the chain's contracts were not deployed" >&2; exit 1; }
fi

write_supernet() { # id permissioned
  local id=$1 gw=$(gateway_of "$1") allow="" deposits="" grace=""
  # A prover killed between commit and reveal reveals as soon as it has rejoined, before its
  # parameters load; REVEAL_GRACE_MS sets another grace than the default 2 s to try others.
  [[ $CHAOS_MODE == commit-reveal ]] && grace="${REVEAL_GRACE_MS:+reveal_grace_ms = $REVEAL_GRACE_MS}"
  # Recorded deposits for the provers (never the intruder): in an open Supernet they are
  # the only stake there is.
  for ((i = SUPERNETS; i < NODES; i++)); do
    deposits+=$'\n[[economics.deposits]]\n'"prover = \"${PEER[$i]}\""$'\namount = 1000\n'
  done
  if [[ $2 == 1 ]]; then
    for ((i = 0; i < NODES; i++)); do
      # Its gateway, and every prover (with two Supernets, provers are in both).
      if [[ ${ROLE[$i]} == prover || ${NET[$i]} == "$id" ]]; then allow+="\"${PEER[$i]}\", "; fi
    done
    allow="allowlist = [${allow%, }]"
  fi
  cat >"$DIR/$id.toml" <<EOF
id = "$id"
gateways = ["${PEER[$gw]}"]
$allow

[auction]
batch_interval_ms = 1000
commit_window_ms = 300
reveal_window_ms = 300
max_jobs_per_batch = 64
$grace

[economics]
genesis_stake = 1000
min_stake = 100
slash_amount = 100
non_reveal_penalty = 10
$deposits

[[categories]]
category = "small"
proving_deadline_ms = $DEADLINE_MS
reserve_price = 1000

$(cat "$DIR/circuits.toml")
EOF
}
write_supernet testnet-a 1
((SUPERNETS == 2)) && write_supernet testnet-b 0

for ((i = 0; i < COUNT; i++)); do
  d="$DIR/nodes/${NAMES[$i]}"
  gw=$(gateway_of "${NET[$i]}")
  boot=()
  [[ ${ROLE[$i]} == prover ]] && boot=(--bootnode "/ip4/127.0.0.1/tcp/${P2P[$gw]}/p2p/${PEER[$gw]}")
  "$BIN" init --dir "$d" --role "${ROLE[$i]}" --supernet-config "../../${NET[$i]}.toml" "${boot[@]}" >/dev/null
  # With two Supernets, every prover (the intruder aside) proves in the other one too, from
  # the same process: one more membership, with its own port and bootnode.
  if ((SUPERNETS == 2)) && [[ ${ROLE[$i]} == prover && ${NAMES[$i]} != intruder ]]; then
    other=testnet-a; [[ ${NET[$i]} == testnet-a ]] && other=testnet-b
    og=$(gateway_of "$other")
    cat >>"$d/node.toml" <<EOF
[[join]]
supernet = "../../$other.toml"
role = "prover"
listen = ["/ip4/127.0.0.1/tcp/$((BASE_PORT + 300 + i))"]
bootnodes = ["/ip4/127.0.0.1/tcp/${P2P[$og]}/p2p/${PEER[$og]}"]
EOF
    JOINED[$i]=$other
  fi
  if [[ ${ROLE[$i]} == gateway ]]; then
    sed -i "s|^params_dir = .*|params_dir = \"../../params\"|" "$d/node.toml"
  fi
  if [[ ${ROLE[$i]} == gateway ]] && ((CHAIN)); then
    # Each gateway pays for its deliveries from an account of its own (Hardhat's #1, #2).
    echo "${ETH_KEYS[$((i + 1))]}" >"$d/eth.key"
    sed -i -e "s|^# deliver_rpc = .*|deliver_rpc = \"$RPC\"|" \
      -e "s|^# deliver_chain_id = .*|deliver_chain_id = $CHAIN_ID|" \
      -e "s|^# deliver_key_file = .*|deliver_key_file = \"eth.key\"|" "$d/node.toml"
  fi
done
# The intruder has the parameters already, so it gets as far as bidding.
if ((INTRUDER)); then cp -r "$DIR/params" "$DIR/nodes/intruder/params"; fi

# ---- start ----
start() { # index
  local i=$1 d="$DIR/nodes/${NAMES[$1]}" extra=()
  [[ ${ROLE[$i]} == gateway ]] && extra=(--grpc "127.0.0.1:${GRPC[$i]}")
  if [[ ${ROLE[$i]} == gateway && -n $STORE_CACHE_MB ]]; then
    extra+=(--store-cache-mb "$STORE_CACHE_MB")
  fi
  if [[ ${ROLE[$i]} == gateway && -n $RETENTION_SECS ]]; then
    extra+=(--retention-secs "$RETENTION_SECS")
  fi
  if [[ ${ROLE[$i]} == gateway ]] && ((DROP_RESULTS > 0)); then
    extra+=(--drop-results-percent "$DROP_RESULTS")
  fi
  if [[ ${ROLE[$i]} == prover ]] && ((SKEW != 0)); then
    if ((i % 2)); then extra+=(--clock-skew-ms "-$SKEW"); else extra+=(--clock-skew-ms "$SKEW"); fi
  fi
  RUST_LOG="${RUST_LOG:-info,libp2p_kad=error,libp2p_gossipsub=warn}" \
    "$BIN" run --config "$d/node.toml" \
    --listen "/ip4/127.0.0.1/tcp/${P2P[$i]}" --metrics "127.0.0.1:${METRICS[$i]}" "${extra[@]}" \
    >>"$d/node.log" 2>&1 &
  PIDS[${NAMES[$i]}]=$!
}
ready() { [[ $(http_status "127.0.0.1:${METRICS[$1]}" /readyz) == 200 ]]; }
healthy() { [[ $(http_status "127.0.0.1:${METRICS[$1]}" /healthz) == 200 ]]; }
gateway_up() { # index [times started]
  (($(grep -c "gateway running" "$DIR/nodes/${NAMES[$1]}/node.log" 2>/dev/null || true) >= ${2:-1}))
}

for ((i = 0; i < SUPERNETS; i++)); do start "$i"; done
for ((i = 0; i < SUPERNETS; i++)); do
  wait_for "${NAMES[$i]} (gateway) to start" 120 gateway_up "$i"
done
log "gateways up; starting provers"
for ((i = SUPERNETS; i < NODES; i++)); do start "$i"; done
((INTRUDER)) && start "$NODES"
for ((i = SUPERNETS; i < NODES; i++)); do
  wait_for "${NAMES[$i]} (prover) to be ready" 180 ready "$i"
done
for ((i = 0; i < SUPERNETS; i++)); do wait_for "${NAMES[$i]} to be ready" 30 ready "$i"; done
((INTRUDER)) && wait_for "the intruder to start" 120 healthy "$NODES"
log "all nodes ready"

printf '\n%-9s %-8s %-12s %-53s %-7s %s\n' node role supernet "peer id" pid "metrics / log"
for ((i = 0; i < COUNT; i++)); do
  printf '%-9s %-8s %-12s %-53s %-7s http://127.0.0.1:%s/metrics  %s\n' "${NAMES[$i]}" "${ROLE[$i]}" \
    "${NET[$i]}${JOINED[$i]:+,${JOINED[$i]#testnet-}}" "${PEER[$i]}" "${PIDS[${NAMES[$i]}]}" "${METRICS[$i]}" "$DIR/nodes/${NAMES[$i]}/node.log"
done
echo
for ((i = 0; i < SUPERNETS; i++)); do
  log "dashboard of ${NET[$i]}: http://127.0.0.1:${METRICS[$i]}/ (open it in a browser while the run goes on)"
done

# ---- workload ----
GATEWAY_URLS=()
for ((i = 0; i < SUPERNETS; i++)); do GATEWAY_URLS+=("http://127.0.0.1:${GRPC[$i]}"); done
submit_cmd() { # task number [submit flags]: sets SUBMIT to the command that submits it
  local t=$1 g=$(($1 % SUPERNETS))
  shift
  SUBMIT=("$BIN" submit --gateway "${GATEWAY_URLS[$g]}" --supernet "${NET[$g]}" --max-fee 1000
    --deadline-secs "$TIMEOUT" "$@" query --sample-rows "$ROWS" --lo 100 --hi 600)
  # On chain: the rows from the RowLog, and a key range of the task's own (an answer is
  # kept under the data set and the range), delivered by the gateway.
  if ((CHAIN)); then
    SUBMIT=("${SUBMIT[@]:0:${#SUBMIT[@]}-6}" --from-chain --rpc "$RPC" --chain-id "$CHAIN_ID"
      --contract "$ROW_LOG" --lo "$(chain_lo "$t")" --hi 600 --deliver-to "$QUERY_RESULTS")
  fi
}
chain_lo() { echo $((100 + $1)); }
submit_task() { # task number [submit flags]
  submit_cmd "$@"
  "${SUBMIT[@]}" | tee -a "$DIR/submitted.log"
}
if ((SOAK == 0)); then
  for ((t = 0; t < TASKS; t++)); do submit_task "$t" | sed 's/^/  /'; done
  log "$TASKS tasks submitted"
fi

# ---- chaos ----
index_of_pubkey() { for ((i = 0; i < COUNT; i++)); do [[ ${PUBKEY[$i]} == "$1" ]] && echo "$i" && return; done; }
holder() { # prints the index of a random prover of testnet-a that holds a job now
  local key idx found=()
  for key in $("$BIN" report --gateway "${GATEWAY_URLS[0]}" --holders 2>/dev/null); do
    idx=$(index_of_pubkey "$key")
    if [[ -n $idx ]]; then found+=("$idx"); fi
  done
  ((${#found[@]} > 0)) || return 1
  echo "${found[RANDOM % ${#found[@]}]}"
}
VICTIM=""
if ((CHAOS)) && [[ $CHAOS_MODE == kill ]]; then
  victim=""
  pick() { victim=$(holder) && [[ -n $victim ]]; }
  wait_for "a prover to hold a job" 60 pick
  VICTIM=$victim
  { kill -9 "${PIDS[${NAMES[$victim]}]}"; wait "${PIDS[${NAMES[$victim]}]}"; } 2>/dev/null || true
  killed_at=$(date +%s)
  CHAOS_LOG+=("kill -9 ${NAMES[$victim]} (prover holding a job)")
  log "chaos: kill -9 ${NAMES[$victim]}, which holds a job"
  sleep 1
  { kill -9 "${PIDS[node0]}"; wait "${PIDS[node0]}"; } 2>/dev/null || true
  CHAOS_LOG+=("kill -9 node0 (gateway of testnet-a)")
  log "chaos: kill -9 node0 (gateway)"
  start 0
  wait_for "node0 to restart" 120 gateway_up 0 2
  CHAOS_LOG+=("restart node0 on its data directory")
  log "chaos: node0 restarted on its data directory"
  # Restart the prover once its job's proving deadline has passed, so the job is
  # re-auctioned to someone else; the restarted prover resumes whatever it still holds.
  while (($(date +%s) < killed_at + DEADLINE_MS / 1000 + 2)); do sleep 0.5; done
  start "$victim"
  CHAOS_LOG+=("restart ${NAMES[$victim]}")
  log "chaos: ${NAMES[$victim]} restarted"
fi
if ((CHAOS)) && [[ $CHAOS_MODE == gateway-outage ]]; then
  any_holder() { holder >/dev/null; }
  wait_for "a prover to hold a job" 60 any_holder
  { kill -9 "${PIDS[node0]}"; wait "${PIDS[node0]}"; } 2>/dev/null || true
  down=$((DEADLINE_MS / 1000 + 5))
  CHAOS_LOG+=("kill -9 node0 (gateway of testnet-a) while provers hold jobs; down ${down}s, longer than the ${DEADLINE_MS} ms proving window")
  log "chaos: kill -9 node0 (gateway); down for ${down}s"
  sleep "$down"
  start 0
  wait_for "node0 to restart" 120 gateway_up 0 2
  CHAOS_LOG+=("restart node0 on its data directory")
  log "chaos: node0 restarted on its data directory"
fi
if ((CHAOS)) && [[ $CHAOS_MODE == commit-reveal ]]; then
  # Rounds over testnet-a's provers in turn: submit one more task (a fresh batch to bid in),
  # watch the prover's log, kill -9 it the moment the gateway has taken its commit ("bid
  # committed"), before its reveal, and restart it at once. It must reveal the bid it saved
  # before committing; report --honest below fails the run if it was penalized.
  kill_on_commit() { # index seconds: 0 once the prover committed and was killed
    local pid=${PIDS[${NAMES[$1]}]} until=$(($(date +%s) + $2)) fd line tailpid subpid rc=1
    exec {fd}< <(exec tail -n0 -s 0.05 -F "$DIR/nodes/${NAMES[$1]}/node.log" 2>/dev/null)
    tailpid=$!
    submit_task $((TASKS * SUPERNETS)) >/dev/null & # a task of testnet-a
    subpid=$!
    TASKS=$((TASKS + 1))
    while (($(date +%s) < until)); do
      IFS= read -r -t 1 line <&"$fd" || continue
      if [[ $line == *"bid committed"* ]]; then
        kill -9 "$pid" 2>/dev/null || true
        rc=0; break
      fi
    done
    kill "$tailpid" 2>/dev/null || true
    exec {fd}<&-
    ((rc)) || { wait "$pid"; } 2>/dev/null || true
    wait "$subpid" || true
    return $rc
  }
  provers=() kills=0
  for ((i = SUPERNETS; i < NODES; i++)); do [[ ${NET[$i]} == testnet-a ]] && provers+=("$i"); done
  for ((round = 0; round < 3 * ${#provers[@]} && kills < 4; round++)); do
    victim=${provers[round % ${#provers[@]}]}
    kill_on_commit "$victim" 15 || continue
    start "$victim"
    kills=$((kills + 1))
    CHAOS_LOG+=("kill -9 ${NAMES[$victim]} right after its commit was taken; restarted at once")
    log "chaos: kill -9 ${NAMES[$victim]} between commit and reveal; restarted"
    wait_for "${NAMES[$victim]} to be ready again" 120 ready "$victim"
  done
  ((kills >= 2)) || { echo "chaos: only $kills prover(s) caught between commit and reveal" >&2; exit 1; }
  resumed=$(cat "$DIR"/nodes/node*/node.log | grep -c "resuming a sealed bid" || true)
  log "chaos: $kills kills between commit and reveal; $resumed sealed bids resumed after restarts"
  ((resumed >= kills)) || { echo "chaos: a killed prover did not resume its sealed bid" >&2; exit 1; }
fi

# ---- soak: a steady stream of tasks, a prover killed now and then, a sample a minute ----
# samples.csv holds what the operating system and the gateway's /metrics say at each
# sample; submitted.tsv when each task went in. `lagrange-node soak-check` joins them with
# the final report into soak.csv and soak.svg and judges the run.
VICTIMS=()
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
fds_of() { { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null || true; } | wc -l; }
tasks_ended() { # outcome (done, failed): the sum over the gateways
  local sum=0 i
  for ((i = 0; i < SUPERNETS; i++)); do
    sum=$((sum + $(metric_sum "127.0.0.1:${METRICS[$i]}" lagrange_gateway_tasks_total "outcome=\"$1\"")))
  done
  echo "$sum"
}
sample() { # elapsed seconds
  local g_rss=0 g_fds=0 store=0 p_rss=0 p_fds=0 i pid kb
  for ((i = 0; i < NODES; i++)); do
    pid=${PIDS[${NAMES[$i]}]}
    kb=$(rss_kb "$pid")
    if [[ ${ROLE[$i]} == gateway ]]; then
      ((kb > g_rss)) && g_rss=$kb
      g_fds=$((g_fds + $(fds_of "$pid")))
      kb=$({ du -sb "$DIR/nodes/${NAMES[$i]}/${NET[$i]}/store" 2>/dev/null || true; } | cut -f1)
      store=$((store + ${kb:-0}))
    else
      ((kb > p_rss)) && p_rss=$kb
      p_fds=$((p_fds + $(fds_of "$pid")))
    fi
  done
  printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$1" "$SUBMITTED" "$(tasks_ended done)" \
    "$(tasks_ended failed)" "$g_rss" "$g_fds" "$store" "$p_rss" "$p_fds" "${#VICTIMS[@]}" \
    >>"$DIR/samples.csv"
}
if ((SOAK > 0)); then
  log "soak: a task every ${RATE}s for ${SOAK}s, a sample every ${SAMPLE_SECS}s, a prover killed every ${KILL_EVERY}s"
  echo "elapsed_s,submitted,done,failed,gateway_rss_kb_max,gateway_fds,store_bytes,prover_rss_kb_max,prover_fds,kills" >"$DIR/samples.csv"
  : >"$DIR/submitted.tsv"
  : >"$DIR/completed.tsv"
  mkdir -p "$DIR/results"
  SUBMITTED=0 soak_start=$(date +%s%3N) restart_at=0 victim=""
  next_task=0 next_sample=0 next_kill=$((KILL_EVERY > 0 ? KILL_EVERY * 1000 : -1))
  while :; do
    now=$(($(date +%s%3N) - soak_start))
    ((now < SOAK * 1000)) || break
    if ((now >= next_task)); then
      # The client follows its task and saves the result as it ends, as a real one would:
      # a gateway with a short retention prunes it soon after. completed.tsv: when.
      tn=$SUBMITTED
      submit_cmd "$tn" --wait --out "$DIR/results/$tn.json"
      (
        stop_with_children "${SUBMIT[@]}" >"$DIR/results/$tn.log" 2>&1
        printf '%s\t%s\n' "$(($(date +%s%3N) - soak_start))" "$tn" >>"$DIR/completed.tsv"
      ) </dev/null >/dev/null 2>&1 &
      id=""
      for _ in $(seq 200); do # its id, printed once the gateway has stored it
        # (The client may not have opened its log yet: no file is no id, not an error.)
        id=$(sed -n 's/^task \([0-9a-f]*\) stored.*/\1/p' "$DIR/results/$tn.log" 2>/dev/null || true)
        [[ -n $id ]] && break
        sleep 0.05
      done
      [[ -n $id ]] || { echo "soak: a task was refused (see $DIR/results/$tn.log)" >&2; exit 1; }
      printf '%s\t%s\n' "$now" "$id" >>"$DIR/submitted.tsv"
      SUBMITTED=$((SUBMITTED + 1)) next_task=$((next_task + RATE * 1000))
    fi
    if ((now >= next_sample)); then
      sample $((now / 1000))
      next_sample=$((next_sample + SAMPLE_SECS * 1000))
    fi
    if ((next_kill >= 0 && now >= next_kill && restart_at == 0)); then
      victim=$(holder) || victim=$((SUPERNETS + RANDOM % (NODES - SUPERNETS)))
      { kill -9 "${PIDS[${NAMES[$victim]}]}"; wait "${PIDS[${NAMES[$victim]}]}"; } 2>/dev/null || true
      VICTIMS+=("$victim")
      CHAOS_LOG+=("$((now / 1000))s: kill -9 ${NAMES[$victim]}")
      log "soak: kill -9 ${NAMES[$victim]}"
      # Back once a job it held has passed its proving deadline, as an operator would be.
      restart_at=$((now + DEADLINE_MS + 2000)) next_kill=$((next_kill + KILL_EVERY * 1000))
    fi
    if ((restart_at > 0 && now >= restart_at)); then
      start "$victim"
      CHAOS_LOG+=("$((now / 1000))s: restart ${NAMES[$victim]}")
      log "soak: ${NAMES[$victim]} restarted"
      restart_at=0
    fi
    sleep 0.2
  done
  ((restart_at == 0)) || start "$victim"
  TASKS=$SUBMITTED
  log "soak: $SUBMITTED tasks submitted; waiting for the last ones"
  drained() { (($(tasks_ended done) + $(tasks_ended failed) >= SUBMITTED)); }
  wait_for "the soak's tasks to end" $((TIMEOUT - ($(date +%s) - START) - 60)) drained || true
  sample $((($(date +%s%3N) - soak_start) / 1000))
fi

# ---- wait and audit ----
left=$((TIMEOUT - ($(date +%s) - START) - 15))
intruder_args=()
((INTRUDER)) && intruder_args=(--intruder "${PEER[$NODES]}")
# Every prover but the intruder and a prover chaos killed is honest: none may be penalized.
for ((i = SUPERNETS; i < NODES; i++)); do
  [[ "$i" == "$VICTIM" || " ${VICTIMS[*]} " == *" $i "* ]] || intruder_args+=(--honest "${PEER[$i]}")
done
set +e
"$BIN" report "${GATEWAY_URLS[@]/#/--gateway=}" --params-dir "$DIR/params" --wait-secs "$left" \
  --expect-tasks "$TASKS" "${intruder_args[@]}" --json "$DIR/report.json" >"$DIR/report.txt"
audit=$?
set -e

FAIL=0
((audit == 0)) || FAIL=1
echo "== summary: $NODES nodes, $TASKS tasks, $SUPERNETS supernet(s)$( ((CHAIN)) && echo ", on chain")$( ((SOAK)) && echo ", soak ${SOAK}s")$( ((CHAOS)) && echo ", chaos $CHAOS_MODE")$( ((INTRUDER)) && echo ', intruder')$( ((SKEW)) && echo ", skew ±${SKEW} ms")$( ((DROP_RESULTS)) && echo ", ${DROP_RESULTS}% results dropped") =="
cat "$DIR/report.txt"
if ((${#CHAOS_LOG[@]})); then
  echo "chaos: ${#CHAOS_LOG[@]} actions"
  for c in "${CHAOS_LOG[@]}"; do echo "  - $c"; done
fi
if ((INTRUDER)); then
  im="127.0.0.1:${METRICS[$NODES]}"
  gm="127.0.0.1:${METRICS[0]}"
  denied=$(metric "$gm" 'lagrange_net_connections_denied_total{supernet="testnet-a"}')
  ipeers=$(metric "$im" 'lagrange_net_peers{supernet="testnet-a"}')
  ibids=$(metric "$im" 'lagrange_prover_bids_total{supernet="testnet-a"}')
  iwins=$(metric "$im" 'lagrange_prover_wins_total{supernet="testnet-a"}')
  echo "intruder ${PEER[$NODES]}: connections denied by the gateway ${denied}, peers ${ipeers}, jobs bid on ${ibids}, wins ${iwins}"
  if [[ $ipeers != 0 || $iwins != 0 ]]; then echo "  - FAIL: the intruder got in" >&2; FAIL=1; fi
  if [[ $denied == 0 ]]; then echo "  - FAIL: no denied connection recorded" >&2; FAIL=1; fi
fi
# Provers audited the auctions they bid in; the gateways here are honest, so no audit may
# find a deviation.
honest_audits=0 deviations=0 unattributable=0
for ((i = SUPERNETS; i < NODES; i++)); do
  pm="127.0.0.1:${METRICS[$i]}"
  honest_audits=$((honest_audits + $(metric_sum "$pm" lagrange_prover_audits_total 'verdict="honest"')))
  deviations=$((deviations + $(metric_sum "$pm" lagrange_prover_audits_total 'verdict="deviation"')))
  unattributable=$((unattributable + $(metric_sum "$pm" lagrange_prover_audits_total 'verdict="unattributable"')))
done
echo "auctions audited by the provers: ${honest_audits} honest, ${deviations} deviations, ${unattributable} unattributable"
if ((deviations > 0)); then echo "  - FAIL: an honest gateway was found deviating" >&2; FAIL=1; fi
if ((honest_audits == 0)); then echo "  - FAIL: no auction was audited" >&2; FAIL=1; fi
if ((SOAK > 0)); then
  "$BIN" soak-check --dir "$DIR" || FAIL=1
fi
if ((CHAIN)); then
  # Each task's gateway delivered its result: the answer the contract holds for the task's
  # range over the RowLog is the one in the task's result.
  mkdir -p "$DIR/results"
  mapfile -t IDS < <(sed -n 's/^task \([0-9a-f]*\) stored.*/\1/p' "$DIR/submitted.log" | head -n "$TASKS")
  on_chain=0
  held() { # task number
    chain_cmd answer --contract "$QUERY_RESULTS" --source "$ROW_LOG" --lo "$(chain_lo "$1")" \
      --hi 600 --expect "$DIR/results/chain-$1.json" >"$DIR/results/chain-$1.txt" 2>&1
  }
  for ((t = 0; t < ${#IDS[@]}; t++)); do
    if "$BIN" task "${IDS[$t]}" --gateway "${GATEWAY_URLS[$((t % SUPERNETS))]}" \
      --out "$DIR/results/chain-$t.json" >/dev/null 2>&1 &&
      wait_for "task $t's answer on chain" 60 held "$t"; then
      on_chain=$((on_chain + 1))
    else
      echo "  - FAIL: task ${IDS[$t]}: $(tail -n 1 "$DIR/results/chain-$t.txt" 2>/dev/null)" >&2
      FAIL=1
    fi
  done
  echo "on chain: ${on_chain}/${TASKS} answers delivered by the gateways, each the task's result (QueryResults $QUERY_RESULTS, RowLog $ROW_LOG)"
  ((${#IDS[@]} == TASKS)) || { echo "  - FAIL: ${#IDS[@]} of $TASKS tasks submitted" >&2; FAIL=1; }
fi
echo "took $(($(date +%s) - START))s; report: $DIR/report.json"
if ((FAIL)); then exit 1; fi
OK=1
