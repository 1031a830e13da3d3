#!/usr/bin/env bash
# usage: stop-anvil.sh STATE_DIR
# Stops the anvil started by start-anvil.sh with the same STATE_DIR. Sends SIGTERM (anvil
# then dumps its state to STATE_DIR/anvil-state.json) and waits up to 10 s before SIGKILL.
set -euo pipefail
if [[ $# -ne 1 ]]; then
  echo "usage: $0 STATE_DIR" >&2
  exit 2
fi
PID_FILE=$1/anvil.pid
if [[ ! -f $PID_FILE ]]; then
  echo "stop-anvil: no $PID_FILE; nothing to stop" >&2
  exit 0
fi
PID=$(cat "$PID_FILE")
if ! [[ $PID =~ ^[0-9]+$ ]] || ! kill -0 "$PID" 2>/dev/null; then
  echo "stop-anvil: pid ${PID} not running" >&2
  rm -f "$PID_FILE"
  exit 0
fi
kill -TERM "$PID"
for _ in $(seq 1 50); do
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.2
done
if kill -0 "$PID" 2>/dev/null; then
  echo "stop-anvil: pid $PID ignored SIGTERM for 10 s; sending SIGKILL (state since the last interval dump is lost)" >&2
  kill -KILL "$PID" 2>/dev/null || true
fi
rm -f "$PID_FILE"
echo "stop-anvil: stopped pid $PID" >&2
