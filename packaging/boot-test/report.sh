#!/bin/sh
# boot-test reporter, run inside the booted image by boot-test-report.service:
# writes /var/lib/boot-test/report-N (N counts boots) as NAME=VALUE lines
# for run.sh to assert on, then powers the container off.
set -u
dir=/var/lib/boot-test
mkdir -p "$dir"
n=1
while [ -e "$dir/report-$n" ]; do n=$((n + 1)); done
state=/var/lib/provisiond
creds=$state/credentials.json

# json NAME: a string field of credentials.json (minbase has no jq).
json() { grep -o "\"$1\": *\"[^\"]*\"" "$creds" 2>/dev/null | head -n1 | sed 's/.*: *"\(.*\)"/\1/'; }
mode() { stat -c '%U %G %a %A' "$1" 2>/dev/null || echo missing; }

# Optional steps for this boot, set by run.sh in /etc/boot-test.conf:
# LINGER=SECONDS stays up that long first (to see the watchdog fed),
# REPROVISION=1 asks the running daemon for a new identity,
# APT_INSTALL=provisiond[=VERSION] installs it from the apt sources in
# /etc/apt/sources.list.d/provisiond.sources while the daemon runs, as
# unattended-upgrades would (the admin's conffiles kept); the before.*
# fields are what the device had until then.
LINGER=0
REPROVISION=0
APT_INSTALL=
# shellcheck disable=SC1091 # written by run.sh into the image
[ -f /etc/boot-test.conf ] && . /etc/boot-test.conf

{
	echo "boot_id=$(cat /proc/sys/kernel/random/boot_id)"
	if [ "$LINGER" -gt 0 ]; then
		echo "linger_from_usec=$(systemctl show -P ExecMainStartTimestampMonotonic boot-test-report.service)"
		sleep "$LINGER"
	fi
	if [ -n "$APT_INSTALL" ]; then
		echo "before.version=$(provisiond version 2>&1)"
		echo "before.credentials.certificateId=$(json certificateId)"
		echo "before.InvocationID=$(systemctl show -P InvocationID provisiond.service)"
		# Only the repository under test: the device's Debian mirror is not
		# what this boot is about.
		apt-get update -o Dir::Etc::sourcelist=/etc/apt/sources.list.d/provisiond.sources \
			-o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 >"$dir/apt-$n.log" 2>&1
		echo "apt_update=$?"
		DEBIAN_FRONTEND=noninteractive apt-get install -y --allow-downgrades \
			-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
			"$APT_INSTALL" >>"$dir/apt-$n.log" 2>&1
		echo "apt_install=$?"
		echo "installed=$(dpkg-query -W -f '${Version}' provisiond)"
		echo "after.InvocationID=$(systemctl show -P InvocationID provisiond.service)"
		# The package restarts provisiond-wait-online.service, a oneshot: read
		# its state once it has settled, for at most a minute.
		for _ in $(seq 600); do
			case $(systemctl show -P ActiveState provisiond-wait-online.service) in
			activating | deactivating | reloading) sleep 0.1 ;;
			*) break ;;
			esac
		done
	fi
	echo "version=$(provisiond version 2>&1)"
	if [ "$REPROVISION" = 1 ]; then
		echo "reprovision=$(provisiond reprovision --wait 60s 2>&1 | tr '\n' ' ')"
	fi
	for p in ActiveState SubState StatusText NRestarts ExecMainStatus WatchdogUSec WatchdogTimestampMonotonic; do
		echo "provisiond.$p=$(systemctl show -P "$p" provisiond.service)"
	done
	for p in ActiveState Result ExecMainStatus; do
		echo "wait-online.$p=$(systemctl show -P "$p" provisiond-wait-online.service)"
	done
	v=$(systemd-analyze verify --man=no provisiond.service provisiond-wait-online.service 2>&1 | tr '\n' ' ')
	echo "verify=${v:-clean}"
	echo "state_directory=$(mode "$state")"
	echo "credentials=$(mode "$creds")"
	echo "credentials.thingName=$(json thingName)"
	echo "credentials.certificateId=$(json certificateId)"
	key=$(json privateKeyFile)
	echo "privateKey=$(mode "${key:-/nonexistent}")"
	wr=$(find "$state" -perm -o+r -type f 2>/dev/null | tr '\n' ' ')
	echo "world_readable_files=${wr:-none}"
	keys=$(find "$state" -type f \( -name '*.key' -o -name '*key*.pem' \) -perm /o+rwx 2>/dev/null | tr '\n' ' ')
	echo "world_accessible_keys=${keys:-none}"
	echo "status=$(provisiond status 2>&1 | tr '\n' ' ')"
} >"$dir/report-$n.tmp" 2>&1
mv "$dir/report-$n.tmp" "$dir/report-$n"
sync
systemctl --no-block poweroff
