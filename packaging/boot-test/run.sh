#!/usr/bin/env bash
# make boot-test: a real first boot of the provisiond .deb under systemd.
#
# Builds (or reuses) a Debian bookworm minbase image with mmdebstrap, installs
# dist/provisiond_*.deb into a copy of it offline with chroot dpkg -i, and
# boots it with systemd-nspawn: once as shipped (the service must stop with
# 78 and not loop), then twice pointed at a fleetsim on the host's loopback.
# It asserts, from inside (a reporter unit ordered after
# provisiond-wait-online.service) and from the host (journalctl -D), that the
# device provisions at its first configured boot and keeps the same identity
# at the next, then purges the package. Needs root. Exits non-zero on any
# failure.
#
# Environment:
#   BOOT_TEST_CACHE=/var/cache/provisiond-boot-test   image cache
#   BOOT_TIMEOUT=150        seconds each boot may take before it is killed
#   KEEP=1                  keep the work folder (image, logs) for a look
#   FLEETSIM_FAULTS="register:reject=400"   faults for fleetsim serve (space
#                           separated), to see the test fail when the device
#                           cannot provision
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/scripts/fleetsim-listening.sh"
here=$root/packaging/boot-test
cache=${BOOT_TEST_CACHE:-/var/cache/provisiond-boot-test}
boot_timeout=${BOOT_TIMEOUT:-150}
started=$SECONDS

say() { printf 'boot-test [%3ds]: %s\n' $((SECONDS - started)) "$*" >&2; }
die() {
	say "FAIL: $*"
	exit 1
}

[[ $(id -u) == 0 ]] || die "needs root (mmdebstrap, chroot, systemd-nspawn)"

# --- tools -----------------------------------------------------------------
missing=()
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
command -v script >/dev/null || missing+=(bsdutils)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi

# --- the packages under test ------------------------------------------------
arch=$(dpkg --print-architecture)
version=$(tr -d ' \n' <"$root/packaging/VERSION")
deb=$(ls "$root"/dist/provisiond_"$version"-*_"$arch".deb 2>/dev/null | sort -V | tail -n1)
simdeb=$(ls "$root"/dist/fleetsim_"$version"-*_"$arch".deb 2>/dev/null | sort -V | tail -n1)
[[ -f $deb && -f $simdeb ]] || die "no dist/provisiond_${version}-*_$arch.deb or fleetsim: run make deb first"

# --- the image, cached by what goes into it ---------------------------------
# The machine's own apt sources are the mirror, so the image comes from
# wherever this machine gets its packages.
sources=
for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
	if [[ -s $f ]] && grep -Eq '^[[:space:]]*(deb|URIs:)' "$f"; then
		sources=$f
		break
	fi
done
[[ -n $sources ]] || die "no apt sources file found for mmdebstrap"
include=systemd-sysv,dbus
key=$( {
	echo "bookworm minbase $include $arch"
	mmdebstrap --version
	cat "$sources"
} | sha256sum | cut -c1-16)
base=$cache/bookworm-$key
if [[ -d $base ]]; then
	say "image: cached $base"
else
	say "image: building $base with mmdebstrap (mirror: $sources)"
	mkdir -p "$cache"
	rm -rf "$base.tmp"
	t0=$SECONDS
	mmdebstrap --quiet --variant=minbase --include="$include" --architectures="$arch" \
		--format=directory bookworm "$base.tmp" "$sources" >"$cache/mmdebstrap.log" 2>&1 ||
		{ tail -n 30 "$cache/mmdebstrap.log" >&2; die "mmdebstrap failed (log: $cache/mmdebstrap.log)"; }
	mv "$base.tmp" "$base"
	say "image: built in $((SECONDS - t0))s"
fi

# --- work folder and cleanup ------------------------------------------------
work=$(mktemp -d /var/tmp/provisiond-boot-test.XXXXXX)
img=$work/image
sim=$work/sim
nspawn_pid=
fleetsim_pid=
http_pid=
# phase prefixes the console logs of the upgrade test's boots.
phase=

stop_nspawn() {
	[[ -n $nspawn_pid ]] || return 0
	if kill -0 "$nspawn_pid" 2>/dev/null; then
		# SIGTERM asks the container for an orderly poweroff.
		kill -TERM "$nspawn_pid" 2>/dev/null || true
		for _ in $(seq 1 40); do
			kill -0 "$nspawn_pid" 2>/dev/null || break
			sleep 0.25
		done
		kill -KILL "$nspawn_pid" 2>/dev/null || true
	fi
	nspawn_pid=
}

cleanup() {
	local rc=$?
	stop_nspawn
	for pid in $fleetsim_pid $http_pid; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ $rc != 0 ]]; then
		say "diagnostics from $work:"
		for f in "$work"/console-*.log; do
			[[ -f $f ]] && { echo "--- $f (last 40 lines)"; tail -n 40 "$f" | tr -d '\r'; }
		done >&2
		if [[ -d $img/var/log/journal ]]; then
			echo "--- journal: provisiond units" >&2
			journalctl -D "$img/var/log/journal" --no-pager -o short-monotonic \
				-u provisiond.service -u provisiond-wait-online.service -u boot-test-report.service 2>&1 |
				tail -n 60 >&2 || true
			echo "--- journal: provisiond's last entries with their fields" >&2
			journalctl -D "$img/var/log/journal" --no-pager -o verbose -n 3 _SYSTEMD_UNIT=provisiond.service 2>&1 |
				grep -v '^    _' >&2 || true
		fi
		[[ -f $work/fleetsim.log ]] && { echo "--- fleetsim log (last 20 lines)"; tail -n 20 "$work/fleetsim.log"; } >&2
	fi
	if [[ ${KEEP:-0} == 1 ]]; then
		say "kept $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$SECONDS
cp -a "$base" "$img"
say "image: copied in $((SECONDS - t0))s"

# --- the purge test on a clean copy, while fleetsim is not yet needed -------
"$root/packaging/deb/purge-test.sh" "$base" "$deb"

# chroot with /proc mounted, as image builders do; the mount lives in a
# private mount namespace and goes away with the command.
in_root() {
	unshare --mount --propagation private -- \
		sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$img" "$@"
}

# --- install offline --------------------------------------------------------
# A fixed machine ID: the journal keeps one folder across both boots, and the
# daemon derives its client ID and serial number from it.
machine_id=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
echo "$machine_id" >"$img/etc/machine-id"
mkdir -p "$img/var/log/journal" # persistent journal, read from the host

cp "$deb" "$img/tmp/provisiond.deb"
in_root dpkg -i /tmp/provisiond.deb >"$work/dpkg-install.log" 2>&1 ||
	{ cat "$work/dpkg-install.log" >&2; die "dpkg -i failed"; }
rm "$img/tmp/provisiond.deb"
[[ -L $img/etc/systemd/system/multi-user.target.wants/provisiond.service ]] ||
	die "dpkg -i did not enable provisiond.service"
say "installed $(basename "$deb") offline; provisiond.service enabled"

# --- the reporter, inside the image -----------------------------------------
install_reporter() {
	install -m 0755 "$here/report.sh" "$img/usr/local/sbin/boot-test-report"
	install -m 0644 "$here/boot-test-report.service" "$img/etc/systemd/system/boot-test-report.service"
	ln -sf /etc/systemd/system/boot-test-report.service \
		"$img/etc/systemd/system/multi-user.target.wants/boot-test-report.service"
}
install_reporter

# boot N: boots the image until the reporter powers it off.
boot() {
	local n=$1 log=$work/console-$phase$1.log
	say "boot $phase$n: systemd-nspawn -b (timeout ${boot_timeout}s)"
	# script gives nspawn the terminal --console=read-only wants; the inner
	# shell records nspawn's own PID so that it alone can be stopped.
	script -qfec "echo \$\$ >'$work/nspawn.pid'; exec systemd-nspawn -D '$img' -M provisiond-boot-test -b --register=no --keep-unit --console=read-only" \
		"$log" </dev/null >/dev/null 2>&1 &
	local script_pid=$!
	for _ in $(seq 1 50); do
		[[ -s $work/nspawn.pid ]] && break
		sleep 0.1
	done
	nspawn_pid=$(cat "$work/nspawn.pid")
	rm -f "$work/nspawn.pid"
	local deadline=$((SECONDS + boot_timeout))
	while kill -0 "$script_pid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			stop_nspawn
			wait "$script_pid" 2>/dev/null || true
			die "boot $n: the container did not power off within ${boot_timeout}s (the reporter never finished)"
		fi
		sleep 0.5
	done
	wait "$script_pid" 2>/dev/null || true
	nspawn_pid=
	[[ -f $img/var/lib/boot-test/report-$n ]] ||
		die "boot $n: no report from inside the container"
	say "boot $phase$n: container powered off"
}

# field NAME FILE: the value of NAME=... in a report.
field() { sed -n "s/^$1=//p" "$2" | head -n1; }

# check_boot N: assertions common to every boot, from inside and outside.
check_boot() {
	local n=$1 r=$img/var/lib/boot-test/report-$1
	sed "s/^/  [inside, boot $n] /" "$r" >&2

	[[ $(field provisiond.ActiveState "$r") == active ]] ||
		die "boot $n: provisiond.service is $(field provisiond.ActiveState "$r"), not active"
	[[ $(field provisiond.NRestarts "$r") == 0 ]] ||
		die "boot $n: provisiond.service restarted $(field provisiond.NRestarts "$r") times"
	local status
	status=$(field provisiond.StatusText "$r")
	[[ $status == registered* ]] || die "boot $n: StatusText is '$status', want 'registered…'"
	[[ $(field verify "$r") == clean ]] ||
		die "boot $n: systemd-analyze verify of the units: $(field verify "$r")"
	[[ $(field wait-online.Result "$r") == success && $(field wait-online.ActiveState "$r") == active ]] ||
		die "boot $n: provisiond-wait-online.service did not succeed"
	# Only the service user and its group reach the identity: the folder is
	# 0750, credentials.json belongs to provisiond, and the private key is
	# 0640: the service group (consumers) reads it, never the world.
	[[ $(field state_directory "$r") == "provisiond provisiond 750 "* ]] ||
		die "boot $n: /var/lib/provisiond is '$(field state_directory "$r")', want provisiond:provisiond 0750"
	[[ $(field credentials "$r") == "provisiond provisiond "* ]] ||
		die "boot $n: credentials.json is '$(field credentials "$r")', want owner provisiond:provisiond"
	[[ $(field credentials.thingName "$r") == "$thing" ]] ||
		die "boot $n: credentials.json thingName '$(field credentials.thingName "$r")', want $thing"
	local key_mode
	key_mode=$(field privateKey "$r")
	[[ $key_mode == "provisiond provisiond 640 "* ]] ||
		die "boot $n: private key is '$key_mode', want provisiond:provisiond with mode 0640"
	[[ $(field world_accessible_keys "$r") == none ]] ||
		die "boot $n: keys open to others in /var/lib/provisiond: $(field world_accessible_keys "$r")"

	# From the host: the structured journal fields of this boot.
	local hits
	hits=$(journalctl -D "$img/var/log/journal" --no-pager -o json _BOOT_ID="$(boot_id_of "$n")" \
		-u provisiond PROVISIOND_STATE=registered THING_NAME="$thing" 2>/dev/null | wc -l)
	((hits > 0)) || die "boot $n: the journal has no provisiond entry with PROVISIOND_STATE=registered THING_NAME=$thing"
	say "boot $n: journal has $hits entries with PROVISIOND_STATE=registered THING_NAME=$thing"
}

# boot_id_of N: the boot ID the reporter recorded for boot N, as the journal
# writes it (no dashes).
boot_id_of() { field boot_id "$img/var/lib/boot-test/report-$1" | tr -d -; }

# --- boot 1: not yet configured ---------------------------------------------
# The packaged example config names claim files that are not there: the
# service must stop with 78 (EX_CONFIG), not be restarted, and the boot must
# go on.
boot 1
r1=$img/var/lib/boot-test/report-1
sed "s/^/  [inside, boot 1] /" "$r1" >&2
[[ $(field provisiond.ActiveState "$r1") == failed && $(field provisiond.ExecMainStatus "$r1") == 78 ]] ||
	die "boot 1 (unconfigured): provisiond.service is $(field provisiond.ActiveState "$r1") with status $(field provisiond.ExecMainStatus "$r1"), want failed with 78"
[[ $(field provisiond.NRestarts "$r1") == 0 ]] ||
	die "boot 1 (unconfigured): provisiond.service was restarted $(field provisiond.NRestarts "$r1") times despite RestartPreventExitStatus=78"
[[ $(field wait-online.ActiveState "$r1") != active ]] ||
	die "boot 1 (unconfigured): provisiond-wait-online.service is active without an identity"
say "boot 1 (unconfigured): provisiond.service failed with 78 and was not restarted; provisiond-wait-online.service not active; the boot went on"

# --- fleetsim on the host's loopback ----------------------------------------
# The host runs the emulator from its own package, so that .deb is used too.
dpkg-deb -x "$simdeb" "$work/fleetsim-pkg"
fleetsim=$work/fleetsim-pkg/usr/bin/fleetsim
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$fleetsim" init --dir "$sim" --listen "127.0.0.1:$port" >/dev/null
endpoint=$(sed -n 's/^endpoint:[[:space:]]*//p' "$sim/provisiond.yaml")
[[ $endpoint == "127.0.0.1:$port" ]] || die "fleetsim init wrote endpoint '$endpoint', want 127.0.0.1:$port"

faults=()
for f in ${FLEETSIM_FAULTS:-}; do faults+=(--fault "$f"); done
"$fleetsim" serve --dir "$sim" "${faults[@]}" >"$work/fleetsim.log" 2>&1 &
fleetsim_pid=$!
listening=$(fleetsim_listening "$work/fleetsim.log" "$fleetsim_pid") ||
	die "fleetsim serve did not start listening: $(cat "$work/fleetsim.log")"

registry_certs() {
	"$fleetsim" registry --dir "$sim" |
		python3 -c 'import json,sys; print(len(json.load(sys.stdin)["certificates"]))'
}
say "fleetsim: listening on $listening"

# --- the device's configuration ---------------------------------------------
etc=$img/etc/provisiond
cp "$sim/ca.pem" "$etc/ca.pem"
cp "$sim/claim.pem.crt" "$etc/claim.pem.crt"
cp "$sim/claim.pem.key" "$etc/claim.pem.key"
cat >"$etc/config.yaml" <<EOF
# boot-test: a device of the fleetsim on the host's loopback.
endpoint: $endpoint
root_ca: ca.pem
claim:
  certificate: claim.pem.crt
  private_key: claim.pem.key
template:
  name: GatewayTemplate
  parameters:
    SerialNumber: "\${machine_id}"
payload_format: json
certificate_method: csr
key_type: ec-p256
state_directory: /var/lib/provisiond
EOF
cp "$etc/config.yaml" "$work/config.yaml" # the upgrade test's device has the same
in_root chown root:provisiond /etc/provisiond/claim.pem.key
chmod 0640 "$etc/claim.pem.key"
in_root provisiond check --config /etc/provisiond/config.yaml >/dev/null ||
	die "provisiond check rejects the boot-test config"
thing=gw-$machine_id

# --- boot 2: the first boot with a configuration ----------------------------
certs0=$(registry_certs)
boot 2
check_boot 2
cert1=$(field credentials.certificateId "$img/var/lib/boot-test/report-2")
status1=$(field provisiond.StatusText "$img/var/lib/boot-test/report-2")
key1=$(field privateKey "$img/var/lib/boot-test/report-2" | cut -d' ' -f1-3)
[[ -n $cert1 ]] || die "boot 2: no certificateId in credentials.json"
certs1=$(registry_certs)
((certs1 > certs0)) || die "boot 2: fleetsim issued no certificate ($certs0 before, $certs1 after)"
say "boot 2: provisioned as $thing, certificate $cert1 (fleetsim: $certs0 → $certs1 certificates)"

# --- boot 3: the identity survives, nothing new is issued -------------------
# This boot also stays up a few seconds with a 2 s watchdog, which the idle,
# registered daemon must keep feeding.
mkdir -p "$img/etc/systemd/system/provisiond.service.d"
printf '[Service]\nWatchdogSec=2s\n' >"$img/etc/systemd/system/provisiond.service.d/boot-test-watchdog.conf"
echo LINGER=6 >"$img/etc/boot-test.conf"
boot 3
check_boot 3
r3=$img/var/lib/boot-test/report-3
[[ $(field provisiond.WatchdogUSec "$r3") == 2s ]] ||
	die "boot 3: WatchdogUSec is '$(field provisiond.WatchdogUSec "$r3")', want 2s from the drop-in"
wd=$(field provisiond.WatchdogTimestampMonotonic "$r3")
from=$(field linger_from_usec "$r3")
((wd > from + 3000000)) ||
	die "boot 3: no watchdog ping during the last 3 s of 6 idle seconds (last ping at ${wd}us, idle from ${from}us)"
say "boot 3: idle for 6 s under WatchdogSec=2s: still active, no restart, last ping $(((wd - from) / 1000)) ms into the idle time"
cert2=$(field credentials.certificateId "$img/var/lib/boot-test/report-3")
[[ $cert2 == "$cert1" ]] || die "boot 3: certificateId changed from $cert1 to $cert2"
certs2=$(registry_certs)
[[ $certs2 == "$certs1" ]] || die "boot 3: fleetsim issued certificates again ($certs1 → $certs2)"
pending=$(journalctl -D "$img/var/log/journal" --no-pager -o json _BOOT_ID="$(boot_id_of 3)" \
	-u provisiond PROVISIOND_STATE=cert-pending 2>/dev/null | wc -l)
((pending == 0)) || die "boot 3: the daemon went through cert-pending again"
say "boot 3: still registered with certificate $cert2; fleetsim still has $certs2 certificates"

# --- boot 4: reprovision asks the running daemon for a new identity ---------
rm "$img/etc/systemd/system/provisiond.service.d/boot-test-watchdog.conf"
echo REPROVISION=1 >"$img/etc/boot-test.conf"
boot 4
check_boot 4
r4=$img/var/lib/boot-test/report-4
cert4=$(field credentials.certificateId "$r4")
[[ -n $cert4 && $cert4 != "$cert1" ]] ||
	die "boot 4: provisiond reprovision left certificate ${cert4:-none} ($(field reprovision "$r4"))"
certs4=$(registry_certs)
((certs4 == certs2 + 1)) || die "boot 4: fleetsim went from $certs2 to $certs4 certificates on one reprovision"
say "boot 4: provisiond reprovision moved the running daemon to certificate ${cert4:0:12}… (fleetsim: $certs2 → $certs4)"

# --- boot 5: a new device whose claim key exists only as a credential --------
# The factory step from provisiond(8): the claim key is encrypted with
# systemd-creds (the host key here: nspawn has no TPM) and the plain file is
# removed; the unit decrypts it into $CREDENTIALS_DIRECTORY at start, and the
# config names it as credential:claim.key. The state is wiped, as on a freshly
# imaged gateway, so this is a first boot again.
claim_body=$(sed -n '2p' "$etc/claim.pem.key")
in_root systemd-creds encrypt --with-key=host --name=claim.key \
	/etc/provisiond/claim.pem.key /etc/provisiond/claim.key.cred >"$work/creds.log" 2>&1 ||
	{ cat "$work/creds.log" >&2; die "systemd-creds encrypt failed in the image"; }
rm -f "$etc/claim.pem.key"
mkdir -p "$img/etc/systemd/system/provisiond.service.d"
printf '[Service]\nLoadCredentialEncrypted=claim.key:/etc/provisiond/claim.key.cred\n' \
	>"$img/etc/systemd/system/provisiond.service.d/claim-credential.conf"
sed -i 's|^  private_key: claim.pem.key$|  private_key: credential:claim.key|' "$etc/config.yaml"
grep -q 'private_key: credential:claim.key' "$etc/config.yaml" || die "could not point the config at the credential"
rm -rf "$img/var/lib/provisiond"/* "$img/etc/boot-test.conf"
# plain_claim_key: the image's files that hold the claim key in the clear.
plain_claim_key() { grep -rlF -- "$claim_body" "$img/etc" "$img/var" "$img/usr/local" 2>/dev/null | tr '\n' ' ' || true; }
plain=$(plain_claim_key)
[[ -z $plain ]] || die "boot 5: the plain claim key is still in the image: $plain"
certs4b=$(registry_certs)
boot 5
check_boot 5
cert5=$(field credentials.certificateId "$img/var/lib/boot-test/report-5")
[[ -n $cert5 && $cert5 != "$cert4" ]] || die "boot 5: no new identity from the credential claim key (${cert5:-none})"
plain=$(plain_claim_key)
[[ -z $plain ]] || die "boot 5: a plain copy of the claim key appeared in the image: $plain"
say "boot 5: claim key only as a systemd-creds credential (host key): provisioned at first boot as certificate ${cert5:0:12}… (fleetsim: $certs4b → $(registry_certs)); no plain claim key in the image"

# --- purge decommissions the device -----------------------------------------
in_root dpkg --purge provisiond >"$work/dpkg-purge.log" 2>&1 ||
	{ cat "$work/dpkg-purge.log" >&2; die "dpkg --purge failed"; }
[[ ! -e $img/var/lib/provisiond ]] || die "dpkg --purge left /var/lib/provisiond (the device identity)"
say "purge: /var/lib/provisiond and the device key are gone"

# --- upgrade from the previous release through a signed apt repository ------
first_thing=$thing
. "$here/upgrade.sh"

say "PASS in $((SECONDS - started))s: $(basename "$deb"), installed offline into Debian bookworm and booted with systemd-nspawn, was enabled, stopped with 78 and no restart while unconfigured, and provisioned at its first configured boot against fleetsim (provisiond.service active with no restart, StatusText '$status1', provisiond-wait-online.service succeeded, credentials.json for $first_thing owned by provisiond in a 0750 folder, private key $key1, PROVISIOND_STATE=registered with THING_NAME in the journal); the next boot kept certificate ${cert1:0:12}… and fleetsim issued no new one ($certs1 certificates before and after) while the idle daemon fed a 2 s watchdog; provisiond reprovision got a new certificate from the running service; a freshly imaged device whose claim key exists only as a systemd-creds credential provisioned at its first boot with no plain claim key in the image; dpkg -r kept the identity, dpkg --purge deleted it and left no files or dangling links; $upgrade_summary"
