# shellcheck shell=bash
# Shared by the mail benchmarks: postfix's smtp-sink (accepts and discards every message) and
# smtp-source (the reference client). Installs postfix with "No configuration" and no daemon
# started. Needs SUDO (array; empty as root) set by the caller.

install_postfix() {
	if [[ -x /usr/sbin/smtp-sink && -x /usr/sbin/smtp-source ]]; then
		return
	fi
	echo "installing postfix (for smtp-sink and smtp-source)" >&2
	local rc=0
	[[ -x /usr/sbin/policy-rc.d ]] && { /usr/sbin/policy-rc.d >/dev/null 2>&1 || rc=$?; }
	if [[ $rc -ne 101 ]]; then
		printf '#!/bin/sh\n# no daemon starts (pwresetd scripts)\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
		"${SUDO[@]}" chmod 0755 /usr/sbin/policy-rc.d
	fi
	echo 'postfix postfix/main_mailer_type select No configuration' | "${SUDO[@]}" debconf-set-selections
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postfix >/dev/null
}

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

now() { date +%s.%N; }

# Starts smtp-sink on 127.0.0.1:PORT (backlog 256) and waits until it accepts; sets sink_pid.
# smtp-sink refuses to run as root without -u.
start_sink() { # PORT
	"${SUDO[@]}" /usr/sbin/smtp-sink -u nobody "127.0.0.1:$1" 256 &
	sink_pid=$!
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "smtp-sink did not start on port $1" >&2
	return 1
}

stop_sink() {
	if [[ -n ${sink_pid:-} ]]; then
		"${SUDO[@]}" kill "$sink_pid" 2>/dev/null || true
		wait "$sink_pid" 2>/dev/null || true
		sink_pid=
	fi
}
