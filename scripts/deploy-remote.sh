#!/bin/sh
# The deploy host's half of `make deploy`, run there as `ssh HOST sh -s -- DIR SYSTEMD [PORT] < this`.
#   DIR      absolute; already holds soc-server, soc and soc-server.service (the unit template)
#   SYSTEMD  1: install and (re)start the systemd unit soc-server (user soc, store-only writes)
#            0: (re)start the server detached, pid in DIR/soc-server.pid, log in DIR/soc-server.log
#            print-unit: print the unit it would install, change nothing
#   PORT     the server's port; empty keeps the one in DIR/soc.env (8417 on a first deploy)
# DIR/soc.env (SOC_TOKEN, SOC_PORT, SOC_STORE) is written once: later runs keep the token and store.
# Progress goes to stderr; stdout says `soc-deploy: port=N`, and `soc-deploy: token=T` only when
# this run made the token.
set -eu

die() {
  echo "deploy: $*" >&2
  exit 1
}

# Paths end up in a unit file and a sed expression: plain characters only, no quoting needed.
check_path() {
  case $2 in
  /*) ;;
  *) die "$1 must be an absolute path, got '$2'" ;;
  esac
  case $2 in
  *[!A-Za-z0-9._/-]*) die "$1 may hold only letters, digits and . _ / -, got '$2'" ;;
  esac
}

env_value() {
  [ -f "$env_file" ] && sed -n "s/^$1=//p" "$env_file" | tail -n 1
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

render_unit() {
  sed -e "s|@DIR@|$dir|g" -e "s|@STORE@|$store|g" -e "s|@STATE@|$state|g" "$dir/soc-server.service"
}

# The pid file's server, if that pid still runs DIR/soc-server (a pid can be reused).
recorded_pid() {
  [ -f "$pid_file" ] || return 1
  pid=$(cat "$pid_file")
  case $pid in '' | *[!0-9]*) return 1 ;; esac
  case $(ps -p "$pid" -o args= 2>/dev/null) in
  "$dir/soc-server "*) echo "$pid" ;;
  *) return 1 ;;
  esac
}

# Whether pid $1 runs (an exited, unreaped zombie does not).
running() {
  case $(ps -p "$1" -o stat= 2>/dev/null) in
  '' | Z*) return 1 ;;
  esac
}

stop_detached() {
  pid=$(recorded_pid) || { rm -f "$pid_file"; return 0; }
  echo "deploy: stopping the server (pid $pid)" >&2
  kill "$pid"
  i=0
  while running "$pid"; do
    i=$((i + 1))
    [ $i -le 100 ] || { kill -9 "$pid" 2>/dev/null || true; break; }
    sleep 0.1
  done
  rm -f "$pid_file"
}

healthy() {
  if command -v curl >/dev/null; then
    curl -fsS -o /dev/null "http://127.0.0.1:$port/v1/health" 2>/dev/null
  elif command -v wget >/dev/null; then
    wget -q -O /dev/null "http://127.0.0.1:$port/v1/health" 2>/dev/null
  elif [ "$systemd" = 1 ]; then
    as_root systemctl is-active --quiet soc-server
  else
    tail -n "+$((log_lines + 1))" "$log_file" | grep -q "listening on"
  fi
}

# Polls `healthy` for up to 10 s; `alive` must keep holding meanwhile.
wait_up() {
  i=0
  until healthy; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! "$@"; then return 1; fi
    sleep 0.1
  done
}

detached_alive() { running "$pid"; }
unit_alive() { ! as_root systemctl is-failed --quiet soc-server; }

dir=${1:-}
systemd=${2:-1}
port=${3:-}
check_path DEPLOY_DIR "$dir"
case $systemd in 0 | 1 | print-unit) ;; *) die "DEPLOY_SYSTEMD must be 0 or 1, got '$systemd'" ;; esac
case $port in *[!0-9]*) die "SERVER_PORT must be a number from 1 to 65535, got '$port'" ;; esac
if [ -n "$port" ] && { [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; }; then
  die "SERVER_PORT must be a number from 1 to 65535, got '$port'"
fi
env_file=$dir/soc.env
pid_file=$dir/soc-server.pid
log_file=$dir/soc-server.log

store=$(env_value SOC_STORE || true)
store=${store:-$dir/store}
check_path SOC_STORE "$store"
# The server keeps its database and push stages beside the store (lib/server/config.ts).
state=$(dirname "$store")/.soc-server
if [ "$systemd" = print-unit ]; then
  render_unit
  exit 0
fi

[ -x "$dir/soc-server" ] || die "$dir/soc-server is missing: copy dist/ there first (make deploy does)"
if [ ! -f "$env_file" ]; then
  token=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  [ ${#token} = 64 ] || die "could not read 32 random bytes from /dev/urandom"
  (umask 077 && printf 'SOC_TOKEN=%s\nSOC_PORT=%s\nSOC_STORE=%s\n' "$token" "${port:-8417}" "$store" >"$env_file.new")
  mv "$env_file.new" "$env_file"
  echo "soc-deploy: token=$token"
elif [ -n "$port" ] && [ "$port" != "$(env_value SOC_PORT)" ]; then
  echo "deploy: SOC_PORT changes to $port in $env_file" >&2
  (umask 077 && sed "s/^SOC_PORT=.*/SOC_PORT=$port/" "$env_file" >"$env_file.new")
  mv "$env_file.new" "$env_file"
fi
port=$(env_value SOC_PORT)
mkdir -p "$store" "$state"
stop_detached

if [ "$systemd" = 1 ]; then
  command -v systemctl >/dev/null || die "no systemctl on this host: deploy with DEPLOY_SYSTEMD=0"
  id -u soc >/dev/null 2>&1 || as_root useradd --system --user-group --home-dir "$dir" --no-create-home --shell /usr/sbin/nologin soc
  for d in "$store" "$state"; do
    [ "$(stat -c %U "$d")" = soc ] || as_root chown -R soc:soc "$d"
  done
  render_unit >"$dir/soc-server.service.rendered"
  as_root cp "$dir/soc-server.service.rendered" /etc/systemd/system/soc-server.service
  rm -f "$dir/soc-server.service.rendered"
  as_root systemctl daemon-reload
  as_root systemctl enable --quiet soc-server
  as_root systemctl restart soc-server
  wait_up unit_alive || die "soc-server did not come up: journalctl -u soc-server"
else
  log_lines=$( (wc -l <"$log_file") 2>/dev/null || echo 0)
  # Not a process-group leader, so setsid neither forks nor changes the pid that $! names.
  (
    set -a
    . "$env_file"
    set +a
    cd "$dir"
    exec setsid nohup "$dir/soc-server" --host 0.0.0.0 >>"$log_file" 2>&1 </dev/null
  ) &
  pid=$!
  echo "$pid" >"$pid_file"
  wait_up detached_alive || die "soc-server did not come up; its log: $(tail -n 5 "$log_file")"
fi
echo "soc-deploy: port=$port"
