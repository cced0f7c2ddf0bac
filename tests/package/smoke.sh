#!/bin/sh
# The installed qgad answers the installed qga: on a unix socket it opens
# itself, and on one that systemd-socket-activate hands it. Runs on the
# system under test (tests/package/run copies it there); prints one line per
# check and exits non-zero at the first failure.
#
# usage: smoke.sh WORKDIR
set -u
work=$1
export QGA_CONF="$work/absent.conf"

fail() { echo "FAIL $*"; exit 1; }
ok() { echo "ok   $*"; }

# wait_for SOCKET PID: until qga gets an answer (the agent binds the socket
# before it listens). The bound only turns a hang into a failure.
wait_for() {
	i=0
	until qga -s "$1" --timeout 10 ping >/dev/null 2>&1; do
		kill -0 "$2" 2>/dev/null || fail "the agent exited before answering on $1"
		i=$((i + 1))
		[ "$i" -lt 600 ] || fail "no answer on $1"
		sleep 0.05
	done
}

# session SOCKET LABEL
session() {
	out=$(qga -s "$1" call guest-sync '{"id": 4242}')
	[ "$out" = 4242 ] || fail "$2: guest-sync printed '$out'"
	ok "$2: qga call guest-sync"
	qga -s "$1" probe >"$work/probe" || fail "$2: qga probe failed"
	grep -q '^class: *negotiating$' "$work/probe" ||
	    fail "$2: qga probe: $(head -n 1 "$work/probe")"
	grep -q '^greeting: .*(qgad ' "$work/probe" ||
	    fail "$2: qga probe shows no qgad greeting"
	ok "$2: qga probe negotiates with qgad"
}

# stop PID LABEL: SIGTERM must end the agent with status 0.
stop() {
	kill -TERM "$1"
	wait "$1"
	rc=$?
	[ "$rc" -eq 0 ] || fail "$2: exit status $rc after SIGTERM"
	ok "$2: exit status 0 after SIGTERM"
}

qgad -m unix-listen -p "$work/qgad.sock" -t "$work" &
pid=$!
wait_for "$work/qgad.sock" "$pid"
session "$work/qgad.sock" unix-listen
stop "$pid" unix-listen

mkdir -p "$work/activated"
systemd-socket-activate -l "$work/activated.sock" qgad -t "$work/activated" \
    2>"$work/activate.err" &
pid=$!
wait_for "$work/activated.sock" "$pid"
session "$work/activated.sock" "socket activation"
stop "$pid" "socket activation"
