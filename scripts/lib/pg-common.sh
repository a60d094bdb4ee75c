# shellcheck shell=bash
# Helpers shared by scripts/pg-start and scripts/pg-stop (sourced after fixture-common.sh).

# shellcheck disable=SC2034 # used by the sourcing scripts
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# shellcheck disable=SC2034
PG_SHARE=${PG_SHARE:-/usr/share/postgresql/15}
PG_MARKER=.pwresetd-pg-fixture

# pg_paths DIR: the fixture's paths (DATA, SOCK, TLS, LOG).
pg_paths() {
	DATA=$1/data
	# shellcheck disable=SC2034
	SOCK=$1/sock
	# shellcheck disable=SC2034
	TLS=$1/tls
	# shellcheck disable=SC2034
	LOG=$1/log/postgres.log
}

# Pids of every process whose command line names this fixture's data dir as a
# whole argument (the postmaster: `postgres -D DATA`), from the pid file first,
# then a scan of /proc: a pg_ctl start that timed out may leave a server
# without a pid file we can read yet.
pg_server_pids() {
	local pid p
	if [[ -s $DATA/postmaster.pid ]]; then
		pid=$(head -n 1 "$DATA/postmaster.pid" | tr -dc 0-9)
		if [[ -n $pid ]] && pid_alive "$pid" && pid_has_arg "$pid" "$DATA"; then
			echo "$pid"
			return 0
		fi
	fi
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		if pid_has_arg "$pid" "$DATA" && pid_alive "$pid" &&
			[[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$PG_BIN/postgres" ]]; then
			echo "$pid"
		fi
	done
}

pg_running_pid() {
	local pids
	pids=$(pg_server_pids)
	[[ -n $pids ]] || return 1
	echo "$pids" | head -n 1
}

# pg_kill_server DIR: fast shutdown (SIGINT) of this DIR's server, SIGKILL for
# it and its children after 10 s. Never touches another DIR's server.
pg_kill_server() {
	local pids pid kids
	pids=$(pg_server_pids)
	[[ -n $pids ]] || return 0
	for pid in $pids; do
		kill -INT "$pid" 2>/dev/null || true
	done
	for _ in $(seq 200); do
		pids=$(pg_server_pids)
		[[ -n $pids ]] || return 0
		sleep 0.05
	done
	for pid in $pids; do
		warn "PostgreSQL $pid ignored SIGINT for 10 s; sending SIGKILL"
		kids=$(pid_descendants "$pid")
		# shellcheck disable=SC2086
		kill -KILL "$pid" $kids 2>/dev/null || true
	done
	for _ in $(seq 50); do
		[[ -n $(pg_server_pids) ]] || return 0
		sleep 0.1
	done
	warn "PostgreSQL for $1 is still running"
	return 1
}
