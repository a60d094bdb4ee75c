# shellcheck shell=bash
# Shared by scripts/samba-install and scripts/ds389-install (sourced, not run).
#
# fixture_install NAME "pkg..." "cmd-path..."
#   Installs the Debian packages with apt-get --no-install-recommends unless
#   every package is installed and every command path exists. Makes sure
#   /usr/sbin/policy-rc.d exits 101 first, so no package starts a daemon.
#   FIXTURE_INSTALL_FORCE=1 runs apt even when everything looks present.

fixture_pkg_installed() {
	local status
	status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
	[[ $status == "install ok installed" ]]
}

fixture_install() {
	local name=$1 pkgs cmds p c rc t0 t1
	read -r -a pkgs <<<"$2"
	read -r -a cmds <<<"$3"
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo=(sudo)
		else
			echo "$name: must run as root (no sudo available)" >&2
			return 1
		fi
	fi

	local missing=()
	for p in "${pkgs[@]}"; do
		fixture_pkg_installed "$p" || missing+=("$p")
	done
	for c in "${cmds[@]}"; do
		[[ -x $c ]] || missing+=("($c)")
	done
	if [[ ${#missing[@]} -eq 0 && ${FIXTURE_INSTALL_FORCE:-0} != 1 ]]; then
		echo "$name: all present (${pkgs[*]})"
		return 0
	fi
	echo "$name: missing: ${missing[*]:-(none; forced)}"

	# No package may start a daemon: policy-rc.d must exit 101.
	rc=0
	if [[ -x /usr/sbin/policy-rc.d ]]; then
		/usr/sbin/policy-rc.d >/dev/null 2>&1 || rc=$?
	fi
	if [[ $rc -ne 101 ]]; then
		printf '#!/bin/sh\n# written by pwresetd scripts/%s: no daemon starts\nexit 101\n' "$name" |
			"${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
		"${sudo[@]}" chmod 0755 /usr/sbin/policy-rc.d
	fi

	t0=$(date +%s.%N)
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"
	t1=$(date +%s.%N)

	for c in "${cmds[@]}"; do
		[[ -x $c ]] || {
			echo "$name: $c still missing after apt-get install" >&2
			return 1
		}
	done
	echo "$name: done ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s)"
}
