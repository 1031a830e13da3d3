#!/usr/bin/env bash
# Freeside's one entry point on a bare machine:
#   ./build.sh run          the full service on a private PostgreSQL + Redis under .freeside/
#   ./build.sh test         the same set-up, then every test project
#   ./build.sh bench NAME   a benchmark under bench/ (writes bench/results/NAME.json)
#   ./build.sh migrate      apply migrations to the private database and exit
#   ./build.sh up | down    start (and leave running) or stop the private PostgreSQL + Redis
# It installs what is missing (Debian packages when run as root; npm packages for tools/).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="$ROOT/.freeside"
PG_PORT="${FREESIDE_PG_PORT:-55432}"
REDIS_PORT="${FREESIDE_REDIS_PORT:-56379}"
WEB_URL="${FREESIDE_URLS:-http://127.0.0.1:5080}"
ANVIL_PORT="${FREESIDE_ANVIL_PORT:-8545}"
FINN_URL="${LOA_FINN_URL:-http://127.0.0.1:5100}"
TELEGRAM_FAKE_URL="${TELEGRAM_FAKE_URL:-http://127.0.0.1:5110}"
DISCORD_FAKE_URL="${DISCORD_FAKE_URL:-http://127.0.0.1:5120}"
export LOA_FINN_URL="$FINN_URL"
CHAIN_DIR="$ROOT/tools/chain"
DEMO_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
DEMO_COLLECTION=0x5FbDB2315678afecb367f032d93F642f64180aa3
MANAGEMENT_URL="${FREESIDE_MANAGEMENT_URLS:-http://127.0.0.1:5090}"
CONFIGURATION="${FREESIDE_BUILD_CONFIGURATION:-Release}"
STARTED=()

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

as_root() { [ "$(id -u)" -eq 0 ]; }

# apt-get that waits while another apt or dpkg (unattended-upgrades, a provisioning run) holds the
# lock, and prints apt's own output when it fails: the cause is in it, not in our one line.
APT_LOCK_WAIT_SECONDS="${APT_LOCK_WAIT_SECONDS:-600}"
APT_LOCK_POLL_SECONDS="${APT_LOCK_POLL_SECONDS:-5}"
apt_get() {
  local out started=$SECONDS
  out=$(mktemp)
  while :; do
    if DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=60 "$@" >"$out" 2>&1; then
      rm -f "$out"
      return 0
    fi
    if grep -qiE 'could not get lock|unable to acquire the dpkg frontend lock|unable to lock' "$out" \
      && [ $((SECONDS - started)) -lt "$APT_LOCK_WAIT_SECONDS" ]; then
      log "apt-get $1: another apt/dpkg holds the lock; waiting ($((SECONDS - started))s of ${APT_LOCK_WAIT_SECONDS}s)"
      sleep "$APT_LOCK_POLL_SECONDS"
      continue
    fi
    sed 's/^/  apt-get: /' "$out" >&2
    rm -f "$out"
    die "apt-get $* failed (its output is above)"
  done
}

apt_install() {
  as_root || die "missing $*; install it (Debian: apt-get install $*) or run as root"
  if [ ! -f "$STATE/.apt-updated" ]; then
    log "apt-get update"
    apt_get update -qq
    mkdir -p "$STATE" && touch "$STATE/.apt-updated"
  fi
  log "apt-get install $*"
  apt_get install -y -qq --no-install-recommends "$@"
}

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$dir" ] && command -v initdb >/dev/null 2>&1; then dir=$(dirname "$(readlink -f "$(command -v initdb)")"); fi
  printf '%s' "$dir"
}

ensure_tools() {
  command -v dotnet >/dev/null 2>&1 || die "the .NET 10 SDK (dotnet) is required"
  local want=()
  [ -n "$(pg_bin)" ] || want+=(postgresql)
  command -v psql >/dev/null 2>&1 || want+=(postgresql-client)
  command -v redis-server >/dev/null 2>&1 || want+=(redis-server)
  command -v curl >/dev/null 2>&1 || want+=(curl)
  if [ "${1:-}" = test ]; then command -v promtool >/dev/null 2>&1 || want+=(prometheus); fi
  if [ "${1:-}" = test ]; then command -v chromium >/dev/null 2>&1 || want+=(chromium); fi
  if [ "${1:-}" = test ] || [ "${1:-}" = run ]; then
    command -v node >/dev/null 2>&1 || want+=(nodejs)
    command -v npm >/dev/null 2>&1 || want+=(npm)
  fi
  # The web chat's browser tests drive Debian's chromium through Playwright (no browser download).
  if [ "${1:-}" = test ]; then [ -x /usr/bin/chromium ] || want+=(chromium); fi
  if [ ${#want[@]} -gt 0 ]; then apt_install "${want[@]}"; fi
  if [ "${1:-}" = test ] || [ "${1:-}" = run ]; then ensure_chain_tools; fi
  if [ "${1:-}" = test ]; then ensure_npm_tools "$ROOT/tools/openai-e2e" openai; fi
}

# A pinned npm tool folder (package-lock.json), installed once: the openai client for the API's end-to-end test,
# Portkey's gateway for bench api.
ensure_npm_tools() {
  if [ ! -d "$1/node_modules" ]; then
    log "npm ci in ${1#"$ROOT"/} ($2)"
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

# anvil, solc, OpenZeppelin and ethers for the local chain (tests and the demo), from the npm registry.
ensure_chain_tools() {
  if [ ! -d "$CHAIN_DIR/node_modules/@foundry-rs" ]; then
    log "npm ci in tools/chain (anvil, solc, OpenZeppelin, ethers)"
    (cd "$CHAIN_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

# PostgreSQL refuses to run as root, so as root the private cluster belongs to the postgres user,
# which must be able to reach .freeside/ (a checkout under a private temp dir is not reachable).
pg_user_run() {
  if as_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

make_reachable() {
  as_root || return 0
  local dir="$1"
  while [ "$dir" != "/" ]; do
    chmod o+x "$dir" 2>/dev/null || true
    dir=$(dirname "$dir")
  done
}

pg_running() { pg_user_run "$(pg_bin)/pg_ctl" -D "$STATE/pg/data" status >/dev/null 2>&1; }

start_postgres() {
  local bin data="$STATE/pg/data" sockets="$STATE/pg/run"
  bin=$(pg_bin)
  mkdir -p "$STATE/pg" "$sockets"
  if as_root; then
    make_reachable "$STATE"
    chown -R postgres:postgres "$STATE/pg"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initialising a private PostgreSQL cluster in .freeside/pg"
    # Trust on loopback only: a private, per-checkout development cluster. Production uses passwords.
    pg_user_run "$bin/initdb" -D "$data" -U freeside --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if pg_running; then
    log "PostgreSQL already running on 127.0.0.1:$PG_PORT"
  else
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    pg_user_run "$bin/pg_ctl" -D "$data" -l "$STATE/pg/postgres.log" -w -t 60 \
      -o "-p $PG_PORT -k $sockets -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=256MB" start >/dev/null
    STARTED+=(postgres)
  fi
  if ! psql_owner postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'freeside'" | grep -q 1; then
    psql_owner postgres -qc "CREATE DATABASE freeside" >/dev/null
  fi
}

stop_postgres() { pg_user_run "$(pg_bin)/pg_ctl" -D "$STATE/pg/data" -m fast -w stop >/dev/null 2>&1 || true; }

psql_owner() { local db="$1"; shift; psql -X -h 127.0.0.1 -p "$PG_PORT" -U freeside -d "$db" "$@"; }

start_redis() {
  mkdir -p "$STATE/redis"
  if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    log "Redis already running on 127.0.0.1:$REDIS_PORT"
    return
  fi
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$STATE/redis" --daemonize yes \
    --pidfile "$STATE/redis/redis.pid" --logfile "$STATE/redis/redis.log" --save "" --appendonly no >/dev/null
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  STARTED+=(redis)
}

stop_redis() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; }

# Stops what this run started, last started first: the host stops before the stand-ins it calls and before
# Redis and PostgreSQL, so its workers drain against a live database instead of logging refused connections.
stop_started() {
  local service i
  for (( i = ${#STARTED[@]} - 1; i >= 0; i-- )); do
    service=${STARTED[$i]}
    case "$service" in
      postgres) stop_postgres ;;
      redis) stop_redis ;;
      web) [ -n "${WEB_PID:-}" ] && kill "$WEB_PID" 2>/dev/null && wait "$WEB_PID" 2>/dev/null || true ;;
      finn) [ -n "${FINN_PID:-}" ] && kill "$FINN_PID" 2>/dev/null && wait "$FINN_PID" 2>/dev/null || true ;;
      telegram) [ -n "${TELEGRAM_FAKE_PID:-}" ] && kill "$TELEGRAM_FAKE_PID" 2>/dev/null && wait "$TELEGRAM_FAKE_PID" 2>/dev/null || true ;;
      discord) [ -n "${DISCORD_FAKE_PID:-}" ] && kill "$DISCORD_FAKE_PID" 2>/dev/null && wait "$DISCORD_FAKE_PID" 2>/dev/null || true ;;
      anvil) "$CHAIN_DIR/stop-anvil.sh" "$STATE/anvil" >/dev/null 2>&1 || true ;;
    esac
  done
  STARTED=()
}

admin_token() {
  if [ -n "${FREESIDE_ADMIN_TOKEN:-}" ]; then printf '%s' "$FREESIDE_ADMIN_TOKEN"; return; fi
  mkdir -p "$STATE"
  [ -s "$STATE/admin-token" ] || (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$STATE/admin-token")
  cat "$STATE/admin-token"
}

key_encryption_key() {
  if [ -n "${FREESIDE_KEY_ENCRYPTION_KEY:-}" ]; then printf '%s' "$FREESIDE_KEY_ENCRYPTION_KEY"; return; fi
  mkdir -p "$STATE"
  [ -s "$STATE/key-encryption-key" ] || (umask 077; head -c 32 /dev/urandom | base64 > "$STATE/key-encryption-key")
  cat "$STATE/key-encryption-key"
}

# NOWPayments secrets for `run`: taken from the environment when set, else generated once under .freeside.
nowpayments_secret() {
  local name=$1 file="$STATE/$2"
  if [ -n "${!name:-}" ]; then printf '%s' "${!name}"; return; fi
  mkdir -p "$STATE"
  [ -s "$file" ] || (umask 077; head -c 32 /dev/urandom | base64 | tr -d '/+=' > "$file")
  cat "$file"
}

# A local chain for the demo: anvil with its state under .freeside/anvil, the demo collection
# deployed once (tokens 1-3 minted to the demo wallet), kept across runs.
start_anvil() {
  local url code
  log "starting anvil on 127.0.0.1:$ANVIL_PORT"
  url=$("$CHAIN_DIR/start-anvil.sh" "$ANVIL_PORT" "$STATE/anvil" 2>"$STATE/anvil-start.log") \
    || { cat "$STATE/anvil-start.log" >&2; die "anvil did not start (set FREESIDE_ANVIL_PORT to use another port)"; }
  STARTED+=(anvil)
  code=$(curl -s -H 'content-type: application/json' \
    --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_getCode\",\"params\":[\"$DEMO_COLLECTION\",\"latest\"]}" "$url")
  if [[ $code == *'"result":"0x"'* ]]; then
    log "deploying the demo collection and minting tokens 1-3 to the demo wallet"
    DEMO_COLLECTION=$(cd "$CHAIN_DIR" && node chain.mjs demo --rpc "$url" 2>/dev/null | sed -n 's/.*"collection":"\(0x[0-9a-fA-F]*\)".*/\1/p')
    [ -n "$DEMO_COLLECTION" ] || die "deploying the demo collection failed"
  fi
  export CHAIN_RPC_URLS="${CHAIN_RPC_URLS:-31337=$url}"
}

export_environment() {
  export ASPNETCORE_ENVIRONMENT="${ASPNETCORE_ENVIRONMENT:-Development}"
  export DATABASE_URL="${DATABASE_URL:-postgres://freeside_app@127.0.0.1:$PG_PORT/freeside}"
  export DATABASE_MIGRATION_URL="${DATABASE_MIGRATION_URL:-postgres://freeside@127.0.0.1:$PG_PORT/freeside}"
  export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT}"
  export FREESIDE_ADMIN_TOKEN; FREESIDE_ADMIN_TOKEN="$(admin_token)"
  export FREESIDE_KEY_ENCRYPTION_KEY; FREESIDE_KEY_ENCRYPTION_KEY="$(key_encryption_key)"
  export FREESIDE_URLS="$WEB_URL" FREESIDE_MANAGEMENT_URLS="$MANAGEMENT_URL"
  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
}

build() {
  log "building ($CONFIGURATION)"
  dotnet build "$ROOT/Freeside.sln" -c "$CONFIGURATION" -nologo -clp:ErrorsOnly -v:q
}

web_dll() { printf '%s' "$ROOT/src/Freeside.Web/bin/$CONFIGURATION/net10.0/Freeside.Web.dll"; }

cmd_migrate() {
  ensure_tools
  start_postgres
  export_environment
  build
  dotnet "$(web_dll)" migrate
}

cmd_run() {
  ensure_tools run
  trap 'stop_started' EXIT
  trap 'exit 130' INT TERM
  start_postgres
  start_redis
  export_environment
  start_anvil
  export NOWPAYMENTS_ENVIRONMENT="${NOWPAYMENTS_ENVIRONMENT:-simulator}"
  export NOWPAYMENTS_IPN_SECRET; NOWPAYMENTS_IPN_SECRET="$(nowpayments_secret NOWPAYMENTS_IPN_SECRET nowpayments-ipn-secret)"
  export NOWPAYMENTS_API_KEY; NOWPAYMENTS_API_KEY="$(nowpayments_secret NOWPAYMENTS_API_KEY nowpayments-api-key)"
  # The dashboard account whose JWT lists payments (reconciliation by invoice); the simulator checks it like NOWPayments.
  export NOWPAYMENTS_EMAIL="${NOWPAYMENTS_EMAIL:-simulator@freeside.local}"
  export NOWPAYMENTS_PASSWORD; NOWPAYMENTS_PASSWORD="$(nowpayments_secret NOWPAYMENTS_PASSWORD nowpayments-password)"
  export API_KEY_PEPPER_V1; API_KEY_PEPPER_V1="$(nowpayments_secret API_KEY_PEPPER_V1 api-key-pepper-v1)"
  build
  dotnet "$(web_dll)" migrate
  start_telegram
  start_discord
  log "starting Freeside on $WEB_URL (metrics on $MANAGEMENT_URL/metrics)"
  dotnet "$(web_dll)" &
  WEB_PID=$!
  STARTED+=(web)
  for _ in $(seq 1 120); do curl -fsS "$WEB_URL/health" >/dev/null 2>&1 && break; kill -0 "$WEB_PID" 2>/dev/null || die "Freeside exited; see the log above"; sleep 0.5; done
  log "starting the loa-finn stand-in on $FINN_URL"
  FREESIDE_JWKS_URL="$WEB_URL/.well-known/jwks.json" FINN_STUB_URLS="$FINN_URL" \
    dotnet "$ROOT/src/Freeside.FinnStub/bin/$CONFIGURATION/net10.0/Freeside.FinnStub.dll" >"$STATE/finn-stub.log" 2>&1 &
  FINN_PID=$!
  STARTED+=(finn)
  for _ in $(seq 1 60); do curl -fsS "$FINN_URL/v1/health" >/dev/null 2>&1 && break; sleep 0.5; done
  seed_demo
  print_walkthrough
  wait "$WEB_PID"
}

# Telegram: with TELEGRAM_BOT_TOKEN set, the real Bot API (webhook or polling as configured); without it,
# the fake Bot API (src/Freeside.TelegramFake), whose /fake/users/{id}/messages plays a user and
# delivers to Freeside's webhook with the secret token.
start_telegram() {
  export TELEGRAM_WEBHOOK_SECRET; TELEGRAM_WEBHOOK_SECRET="$(nowpayments_secret TELEGRAM_WEBHOOK_SECRET telegram-webhook-secret)"
  if [ -n "${TELEGRAM_BOT_TOKEN:-}" ]; then return; fi
  log "starting the fake Telegram Bot API on $TELEGRAM_FAKE_URL"
  TELEGRAM_FAKE_URLS="$TELEGRAM_FAKE_URL" \
    dotnet "$ROOT/src/Freeside.TelegramFake/bin/$CONFIGURATION/net10.0/Freeside.TelegramFake.dll" >"$STATE/telegram-fake.log" 2>&1 &
  TELEGRAM_FAKE_PID=$!
  STARTED+=(telegram)
  export TELEGRAM_BOT_TOKEN="7000000001:fake-bot-token-for-the-local-bot-api"
  export TELEGRAM_API_URL="$TELEGRAM_FAKE_URL"
  export TELEGRAM_WEBHOOK_URL="${TELEGRAM_WEBHOOK_URL:-$WEB_URL/api/telegram/webhook}"
  for _ in $(seq 1 60); do
    curl -fsS -X POST "$TELEGRAM_FAKE_URL/bot$TELEGRAM_BOT_TOKEN/getMe" >/dev/null 2>&1 && return
    kill -0 "$TELEGRAM_FAKE_PID" 2>/dev/null || break
    sleep 0.5
  done
  cat "$STATE/telegram-fake.log" >&2
  die "the fake Telegram Bot API did not start on $TELEGRAM_FAKE_URL (set TELEGRAM_FAKE_URL to use another port)"
}

# Discord: with DISCORD_BOT_TOKEN set, the real Discord (DISCORD_PUBLIC_KEY and DISCORD_APPLICATION_ID
# from the environment too); without it, the fake Discord (src/Freeside.DiscordFake). It makes an Ed25519
# key pair when it starts and signs the slash commands its /fake/interactions sends; Freeside gets the
# public half, and talks REST and gateway to the fake.
start_discord() {
  DISCORD_FAKE_STARTED=
  if [ -n "${DISCORD_BOT_TOKEN:-}" ]; then return; fi
  [ -z "${DISCORD_PUBLIC_KEY:-}" ] || log "DISCORD_PUBLIC_KEY is set but DISCORD_BOT_TOKEN is not: using the fake Discord's key instead"
  log "starting the fake Discord on $DISCORD_FAKE_URL"
  DISCORD_FAKE_URLS="$DISCORD_FAKE_URL" DISCORD_FAKE_INTERACTIONS_URL="$WEB_URL/api/discord/interactions" \
    dotnet "$ROOT/src/Freeside.DiscordFake/bin/$CONFIGURATION/net10.0/Freeside.DiscordFake.dll" >"$STATE/discord-fake.log" 2>&1 &
  DISCORD_FAKE_PID=$!
  STARTED+=(discord)
  local key=""
  for _ in $(seq 1 60); do
    key=$(curl -fsS "$DISCORD_FAKE_URL/fake/public-key" 2>/dev/null | sed -n 's/.*"public_key":"\([0-9a-f]*\)".*/\1/p') || true
    [ -n "$key" ] && break
    kill -0 "$DISCORD_FAKE_PID" 2>/dev/null || break
    sleep 0.5
  done
  if [ -z "$key" ]; then
    cat "$STATE/discord-fake.log" >&2
    die "the fake Discord did not start on $DISCORD_FAKE_URL (set DISCORD_FAKE_URL to use another port)"
  fi
  export DISCORD_PUBLIC_KEY="$key" DISCORD_BOT_TOKEN="fake-bot-token" DISCORD_APPLICATION_ID="100000000000000001"
  export DISCORD_API_URL="$DISCORD_FAKE_URL/api/v10/" DISCORD_GATEWAY_URL="ws://${DISCORD_FAKE_URL#http://}/gateway"
  DISCORD_FAKE_STARTED=1
}

seed_demo() {
  local status
  status=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$WEB_URL/api/v1/admin/communities" \
    -H "Authorization: Bearer $FREESIDE_ADMIN_TOKEN" -H 'Content-Type: application/json' \
    -d "{\"slug\":\"demo\",\"name\":\"Freeside Demo\",\"chain_id\":31337,\"collection_address\":\"$DEMO_COLLECTION\",\"default_access_level\":\"pro\"}")
  case "$status" in
    201) log "seeded the demo community 'demo'" ;;
    409) log "demo community already present" ;;
    *) die "seeding the demo community answered HTTP $status" ;;
  esac
  # $5 of credits for the chat walkthrough; the idempotency key makes a restart a no-op.
  status=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$WEB_URL/api/v1/admin/communities/demo/grants" \
    -H "Authorization: Bearer $FREESIDE_ADMIN_TOKEN" -H 'Content-Type: application/json' \
    -d '{"amount_micro":5000000,"reason":"demo credits","idempotency_key":"demo-seed-credits"}')
  case "$status" in
    200|201) log "demo community has its demo credits" ;;
    *) die "granting the demo credits answered HTTP $status" ;;
  esac
  # The fake Discord's server (and its channel for agent threads) belongs to the demo community.
  if [ -n "${DISCORD_FAKE_STARTED:-}" ]; then
    status=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT "$WEB_URL/api/v1/admin/communities/demo/discord" \
      -H "Authorization: Bearer $FREESIDE_ADMIN_TOKEN" -H 'Content-Type: application/json' \
      -d '{"guild_id":"200000000000000001","agent_channel_id":"200000000000000002"}')
    case "$status" in
      2??) log "the fake Discord's server is the demo community's" ;;
      *) die "connecting the fake Discord's server to the demo community answered HTTP $status" ;;
    esac
  fi
}

print_walkthrough() {
  local discord="the real Discord (DISCORD_BOT_TOKEN is set); interactions endpoint $WEB_URL/api/discord/interactions"
  [ -z "${DISCORD_FAKE_STARTED:-}" ] || discord="fake Discord on $DISCORD_FAKE_URL   (REST + gateway; signs the slash commands it sends)"
  cat <<EOF

  Freeside is running.
    API            $WEB_URL
    Health         $WEB_URL/health
    OpenAPI        $WEB_URL/openapi/v1.json
    finn stand-in  $FINN_URL/v1/health   (verifies Freeside's S2S tokens against the JWKS above)
    Discord        $discord
    Metrics        $MANAGEMENT_URL/metrics   (management listener, loopback only)
    Admin token    in .freeside/admin-token  (platform admin bearer token; keep it private)

  Try:
    curl -s $WEB_URL/health
    curl -s $WEB_URL/api/v1/communities/demo
    curl -s -X POST $WEB_URL/api/v1/admin/communities \\
      -H "Authorization: Bearer \$(cat .freeside/admin-token)" -H 'Content-Type: application/json' \\
      -d '{"slug":"my-club","name":"My Club","chain_id":1,"collection_address":"0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d","default_access_level":"free"}'

  Local chain    ${CHAIN_RPC_URLS#31337=}   (anvil, chain 31337; demo collection $DEMO_COLLECTION)
  Demo wallet    0x70997970C51812dc3A010C7d01b50e0d17dc79C8   owns tokens 1, 2, 3
                 (anvil's public test key $DEMO_KEY; never use it anywhere real)

  Sign in with Ethereum as the demo wallet (prints {token, address, chain_id, expires_at}):
    node tools/chain/chain.mjs siwe-login --base-url $WEB_URL --key $DEMO_KEY
  Then, with SESSION set to that token:
    curl -s $WEB_URL/api/v1/auth/session -H "Authorization: Bearer \$SESSION"
    curl -s "$WEB_URL/api/v1/me/nfts?community=demo" -H "Authorization: Bearer \$SESSION"
    curl -s $WEB_URL/.well-known/jwks.json

  Talk to the demo NFT (Server-Sent Events), then see the demo community's balance drop by cost_micro:
    curl -s $WEB_URL/api/v1/communities/demo/balance -H "Authorization: Bearer \$(cat .freeside/admin-token)"
    curl -sN -X POST $WEB_URL/api/v1/agents/demo/1/chat -H "Authorization: Bearer \$SESSION" \\
      -H 'Content-Type: application/json' -d '{"message":"hello"}'
    curl -s $WEB_URL/api/v1/communities/demo/balance -H "Authorization: Bearer \$(cat .freeside/admin-token)"

  Telegram (fake Bot API on ${TELEGRAM_API_URL:-the real Bot API}; user 42 plays a Telegram user; docs/telegram.md):
    curl -s -X POST ${TELEGRAM_API_URL:-\$FAKE}/fake/users/42/messages -d '{"text":"/verify"}'
    curl -s ${TELEGRAM_API_URL:-\$FAKE}/fake/chats/42/messages      # what the bot answered (open the /link/… URL to sign)
    curl -s -X POST ${TELEGRAM_API_URL:-\$FAKE}/fake/users/42/messages -d '{"text":"/agent demo 1"}'
    curl -s -X POST ${TELEGRAM_API_URL:-\$FAKE}/fake/users/42/messages -d '{"text":"hello"}'

EOF
  if [ -n "${DISCORD_FAKE_STARTED:-}" ]; then cat <<EOF
  Discord (fake Discord on $DISCORD_FAKE_URL; user 300000000000000001 in server 200000000000000001, the demo
  community's; each /fake/interactions call waits for Freeside's answer and prints it as "reply"; docs/discord.md):
    curl -s -X POST $DISCORD_FAKE_URL/fake/interactions -d '{"command":"verify"}'
    node tools/chain/chain.mjs link --key $DEMO_KEY --url LINK_URL_FROM_THE_REPLY   # or open it in a browser with a wallet
    curl -s -X POST $DISCORD_FAKE_URL/fake/interactions -d '{"command":"my-agent","options":{"token_id":"1"}}'
    curl -s $DISCORD_FAKE_URL/fake/channels                                          # the agent thread's id
    curl -s -X POST $DISCORD_FAKE_URL/fake/messages -d '{"channel_id":"THREAD_ID","content":"hello"}'
    curl -s $DISCORD_FAKE_URL/fake/channels/THREAD_ID/messages                       # the bot's streamed reply

EOF
  fi
  cat <<EOF
  Ctrl-C stops Freeside, the finn stand-in, the fake Bot API and fake Discord, anvil, Redis and PostgreSQL.
EOF
}

cmd_test() {
  ensure_tools test
  trap 'stop_started' EXIT
  start_postgres
  start_redis
  export_environment
  export FREESIDE_TEST_PG="postgres://freeside@127.0.0.1:$PG_PORT/postgres"
  build
  local log_file="$STATE/test.log" status=0
  log "running tests"
  dotnet test "$ROOT/Freeside.sln" -c "$CONFIGURATION" --no-build -nologo -v:q --logger "console;verbosity=minimal" 2>&1 \
    | tee "$log_file" || status=$?
  # One plain closing line over every test project.
  awk '/(Passed|Failed)!/ {
         for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) }
       }
       END { gsub(",", "", p); printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log_file"
  if grep -q "Failed!" "$log_file"; then
    status=1
    # Repeat each failure's name and message last, where a CI log's tail shows them.
    awk '/^  Failed / { n = 6; shown++ } n > 0 && shown <= 10 && !/^  Stack Trace:/ { print; n-- } /^  Stack Trace:/ { n = 0 }' "$log_file"
  fi
  return "$status"
}

cmd_bench() {
  local name="${1:-}"
  [ -n "$name" ] || die "usage: ./build.sh bench NAME (see bench/README.md)"
  ensure_tools
  trap 'stop_started' EXIT
  start_postgres
  start_redis
  export_environment
  export FREESIDE_TEST_PG="postgres://freeside@127.0.0.1:$PG_PORT/postgres"
  build
  mkdir -p "$ROOT/bench/results"
  if [ "$name" = api ]; then ensure_npm_tools "$ROOT/bench/portkey" "Portkey's gateway"; fi
  # The audit bench measures its own process as the host's stand-in (the export runs in it), so it runs under the
  # host's runtime configuration (GC mode and gen0 budget, tiering), not the bench's server GC for load generation.
  local runtime=()
  if [ "$name" = audit ]; then runtime=(--runtimeconfig "$(dirname "$(web_dll)")/Freeside.Web.runtimeconfig.json"); fi
  dotnet exec "${runtime[@]}" "$ROOT/bench/Freeside.Bench/bin/$CONFIGURATION/net10.0/Freeside.Bench.dll" "$name" "$ROOT/bench/results"
}

cmd_up() {
  ensure_tools test
  start_postgres
  start_redis
  export_environment
  echo "export FREESIDE_TEST_PG=postgres://freeside@127.0.0.1:$PG_PORT/postgres REDIS_URL=$REDIS_URL DATABASE_URL=$DATABASE_URL DATABASE_MIGRATION_URL=$DATABASE_MIGRATION_URL"
}

# Sourced (the tests call apt_install with a fake apt-get), define the functions only.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

case "${1:-}" in
  run) cmd_run ;;
  up) cmd_up ;;
  down) stop_redis; stop_postgres ;;
  test) cmd_test ;;
  bench) shift; cmd_bench "$@" ;;
  migrate) cmd_migrate ;;
  *) echo "usage: ./build.sh run | test | bench NAME | migrate | up | down" >&2; exit 2 ;;
esac
