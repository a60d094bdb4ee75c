# shellcheck shell=bash
# Helpers shared by scripts/samba-* and scripts/ds389-* (sourced, not run).
# The caller sets FIXTURE_NAME (used in messages) before sourcing.

# shellcheck disable=SC2034 # used by the sourcing scripts
PY=/usr/bin/python3

die() {
	echo "${FIXTURE_NAME:-fixture}: $*" >&2
	exit 1
}

warn() {
	echo "${FIXTURE_NAME:-fixture}: $*" >&2
}

now() { date +%s.%N; }

# elapsed T0 [T1] -> seconds with 2 decimals
elapsed() {
	awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.2f", b - a }'
}

# A sourceable KEY=value line; single-quoted when needed.
env_q() {
	if [[ $2 =~ ^[A-Za-z0-9_./:=,@+%-]*$ ]]; then
		printf '%s=%s\n' "$1" "$2"
	else
		printf "%s='%s'\n" "$1" "${2//\'/\'\\\'\'}"
	fi
}

# Exact-argument match in a process's command line: pid_has_arg PID ARG
pid_has_arg() {
	[[ -r /proc/$1/cmdline ]] || return 1
	[[ $'\n'$(tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null)$'\n' == *$'\n'"$2"$'\n'* ]]
}

# Is the pid running (exists and is not a zombie)? Init here may reap late.
pid_alive() {
	local state
	state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
	[[ -n $state && $state != Z ]]
}

# All descendants of a pid (children first level, then theirs), one per line.
pid_descendants() {
	local todo=("$1") p kids
	while [[ ${#todo[@]} -gt 0 ]]; do
		p=${todo[0]}
		todo=("${todo[@]:1}")
		kids=$(cat /proc/"$p"/task/*/children 2>/dev/null || true)
		for k in $kids; do
			echo "$k"
			todo+=("$k")
		done
	done
}

# A throwaway CA: tls_make_ca DIR NAME CN  -> DIR/NAME.pem, DIR/NAME.key (0600)
tls_make_ca() {
	local dir=$1 name=$2 cn=$3 cnf
	cnf=$(mktemp "$dir/.ca.XXXXXX.cnf")
	cat >"$cnf" <<-'EOF'
		[req]
		distinguished_name = dn
		prompt = no
		[dn]
		[ca_ext]
		basicConstraints = critical,CA:TRUE
		keyUsage = critical,keyCertSign,cRLSign
		subjectKeyIdentifier = hash
	EOF
	(
		umask 077
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/$name.key" 2>/dev/null
	)
	openssl req -x509 -new -config "$cnf" -extensions ca_ext -key "$dir/$name.key" -days 3650 \
		-sha256 -subj "/O=pwresetd test/CN=$cn" -out "$dir/$name.pem"
	rm -f "$cnf"
	chmod 0644 "$dir/$name.pem"
	chmod 0600 "$dir/$name.key"
}

# A server leaf signed by a CA (CA:FALSE, serverAuth, SANs):
# tls_make_leaf CA_PEM CA_KEY OUT_PEM OUT_KEY CN SAN [ec|rsa]
#   SAN is an openssl subjectAltName value, e.g. "DNS:a,IP:10.0.0.1".
#   OUT_KEY is an EC P-256 (default) or RSA 2048 key in PKCS#8 PEM, mode 0600.
tls_make_leaf() {
	local ca=$1 cakey=$2 out=$3 key=$4 cn=$5 san=$6 algo=${7:-ec} cnf
	local keyopts=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256)
	[[ $algo == rsa ]] && keyopts=(-algorithm RSA -pkeyopt rsa_keygen_bits:2048)
	cnf=$(mktemp "$(dirname -- "$out")/.leaf.XXXXXX.cnf")
	cat >"$cnf" <<-EOF
		[req]
		distinguished_name = dn
		prompt = no
		[dn]
		[leaf_ext]
		basicConstraints = critical,CA:FALSE
		keyUsage = critical,digitalSignature,keyEncipherment
		extendedKeyUsage = serverAuth
		subjectAltName = $san
		subjectKeyIdentifier = hash
		authorityKeyIdentifier = keyid
	EOF
	(
		umask 077
		openssl genpkey "${keyopts[@]}" -out "$key" 2>/dev/null
	)
	openssl req -x509 -new -config "$cnf" -extensions leaf_ext -key "$key" -CA "$ca" -CAkey "$cakey" \
		-days 825 -sha256 -subj "/O=pwresetd test/CN=$cn" -out "$out"
	rm -f "$cnf"
	openssl verify -CAfile "$ca" "$out" >/dev/null || die "generated certificate does not verify"
	chmod 0644 "$out"
	chmod 0600 "$key"
}

# Hash of files' contents (for template cache keys): files_hash FILE... [-- EXTRA-STRING]
files_hash() {
	local extra=""
	local files=()
	while [[ $# -gt 0 ]]; do
		if [[ $1 == -- ]]; then
			shift
			extra=$*
			break
		fi
		files+=("$1")
		shift
	done
	{ cat -- "${files[@]}"; printf '%s' "$extra"; } | sha256sum | cut -c1-12
}

# A random password (no newline) into a new 0600 file: fixture_password FILE LEN
# Groups of letters with one digit each, joined by "-" (upper, lower, digit,
# special: passes AD complexity and 389's 3-category check), never 3 digits
# in a row, and none of the fixtures' name tokens (AD and 389 refuse
# passwords that contain the account's names).
fixture_password() {
	(
		umask 077
		"$PY" - "$1" "$2" <<'PYEOF'
import secrets, string, sys
out, n = sys.argv[1], int(sys.argv[2])
FORBIDDEN = ("user", "test", "disabled", "one", "noexpire", "zoe", "operator",
             "pwadmin", "pwresetd", "service", "account", "admin", "guest",
             "krbtgt", "dc1", "example", "org", "people", "group", "helpdesk",
             "directory", "manager", "tier")
lower, upper, digits = string.ascii_lowercase, string.ascii_uppercase, "23456789"
while True:
    pw = "".join("-" if k % 5 == 4 else secrets.choice(digits) if k % 5 == 2
                 else secrets.choice(lower + upper) for k in range(n))
    if any(t in pw.lower() for t in FORBIDDEN):
        continue
    if any(c in upper for c in pw) and any(c in lower for c in pw):
        break
with open(out, "w") as f:
    f.write(pw)
PYEOF
	)
}
