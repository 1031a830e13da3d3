#!/usr/bin/env bash
# usage: start-anvil.sh PORT STATE_DIR
#
# Starts the anvil binary shipped in node_modules (npm ci first) on 127.0.0.1:PORT,
# chain id 31337, the default deterministic dev accounts, instant (auto) mining, and
# persistent state in STATE_DIR/anvil-state.json (loaded on start if present, dumped every
# few seconds and on SIGTERM/SIGINT). Runs in the background; pid -> STATE_DIR/anvil.pid,
# log -> STATE_DIR/anvil.log. Waits (<= 15 s) until eth_chainId answers, then prints the
# RPC URL on stdout. Stop it with stop-anvil.sh STATE_DIR (SIGTERM, so the state is dumped).
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 PORT STATE_DIR" >&2
  exit 2
fi
PORT=$1
STATE_DIR=$2
if ! [[ $PORT =~ ^[0-9]+$ ]] || (( PORT < 1 || PORT > 65535 )); then
  echo "start-anvil: bad port: $PORT" >&2
  exit 2
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
PID_FILE=$STATE_DIR/anvil.pid
LOG_FILE=$STATE_DIR/anvil.log
STATE_FILE=$STATE_DIR/anvil-state.json
URL=http://127.0.0.1:$PORT
MNEMONIC="test test test test test test test test test test test junk"
TIMEOUT_S=${ANVIL_START_TIMEOUT:-15}

# --- locate the binary -------------------------------------------------------------------
# package.json pins @foundry-rs/anvil-linux-amd64 (an optionalDependency that ships the
# binary at bin/anvil). Other platforms: set ANVIL_BIN, or add their package. The last
# candidate is where the @foundry-rs/anvil wrapper's postinstall would put it.
find_anvil() {
  if [[ -n ${ANVIL_BIN:-} ]]; then echo "$ANVIL_BIN"; return; fi
  local os arch
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) os=unknown ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) arch=unknown ;;
  esac
  local c
  for c in "$HERE/node_modules/@foundry-rs/anvil-$os-$arch/bin/anvil" \
           "$HERE/node_modules/@foundry-rs/anvil/anvil"; do
    if [[ -x $c ]]; then echo "$c"; return; fi
  done
  return 1
}
if ! ANVIL=$(find_anvil); then
  echo "start-anvil: anvil binary not found under $HERE/node_modules/@foundry-rs (run 'npm ci' in $HERE)" >&2
  exit 1
fi

rpc_chain_id() {
  curl -s --max-time 1 -H 'content-type: application/json' \
    --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$URL" 2>/dev/null || true
}

# --- already running? ----------------------------------------------------------------------
if [[ -f $PID_FILE ]]; then
  OLD_PID=$(cat "$PID_FILE")
  if [[ $OLD_PID =~ ^[0-9]+$ ]] && kill -0 "$OLD_PID" 2>/dev/null; then
    if [[ $(rpc_chain_id) == *'"result"'* ]]; then
      echo "start-anvil: already running (pid $OLD_PID)" >&2
      echo "$URL"
      exit 0
    fi
    echo "start-anvil: pid $OLD_PID from $PID_FILE is alive but $URL does not answer; stop it first" >&2
    exit 1
  fi
  rm -f "$PID_FILE"
fi
if [[ -n $(rpc_chain_id) ]]; then
  echo "start-anvil: something already answers on $URL (not started from $STATE_DIR)" >&2
  exit 1
fi

# --- start --------------------------------------------------------------------------------
ARGS=(
  --host 127.0.0.1
  --port "$PORT"
  --chain-id 31337
  --mnemonic "$MNEMONIC"
  --accounts 10
  --state "$STATE_FILE"
  --state-interval "${ANVIL_STATE_INTERVAL:-2}"
)
# No --block-time: anvil then auto-mines one block per transaction, instantly.
if [[ -f $STATE_FILE ]]; then
  echo "start-anvil: loading state from $STATE_FILE" >&2
fi

# setsid (when available) detaches anvil from the caller's process group / terminal so it
# survives the calling shell; stdin from /dev/null so it never waits on a terminal.
LAUNCH=()
if command -v setsid >/dev/null 2>&1; then LAUNCH=(setsid); fi
"${LAUNCH[@]}" "$ANVIL" "${ARGS[@]}" </dev/null >"$LOG_FILE" 2>&1 &
PID=$!
echo "$PID" >"$PID_FILE"

deadline=$((SECONDS + TIMEOUT_S))
while :; do
  if [[ $(rpc_chain_id) == *'"result":"0x7a69"'* ]]; then
    break
  fi
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "start-anvil: anvil exited during startup; last log lines:" >&2
    tail -n 20 "$LOG_FILE" >&2 || true
    rm -f "$PID_FILE"
    exit 1
  fi
  if (( SECONDS >= deadline )); then
    echo "start-anvil: anvil did not answer eth_chainId on $URL within ${TIMEOUT_S}s; last log lines:" >&2
    tail -n 20 "$LOG_FILE" >&2 || true
    kill "$PID" 2>/dev/null || true
    rm -f "$PID_FILE"
    exit 1
  fi
  sleep 0.2
done

echo "start-anvil: anvil $("$ANVIL" --version | head -n1 | sed 's/^anvil Version: //') pid $PID on $URL (log $LOG_FILE)" >&2
echo "$URL"
