# Sourced by run.sh once the first-boot tests have passed: the upgrade test.
# A device installed with the previous release (built from its source archive
# in packaging/releases/) provisions at first boot, then takes the current
# package through apt from a signed repository while the daemon runs, as a
# fleet's unattended-upgrades would. After the upgrade, and after a reboot,
# it must have the same identity and nothing new in fleetsim; the way back
# (an apt downgrade to the previous release) must keep working on the same
# state. Before all of it, apt must refuse the repository with a tampered
# Packages file. Uses run.sh's boot, check_boot, field, in_root, fleetsim.
# shellcheck shell=bash

phase=upgrade-
old_deb=$(PREVIOUS_CACHE=$cache/previous "$root/packaging/releases/build-previous.sh" "$arch") ||
	die "upgrade: no .deb of the previous release"
old_version=$(dpkg-deb -f "$old_deb" Version)
new_version=$(dpkg-deb -f "$deb" Version)
say "upgrade: from $old_version ($(basename "$old_deb")) to $new_version"

# --- the fleet's repository: both releases, signed by a throwaway key -------
www=$work/www
APT_REPO_DIR=$www/good APT_SIGNING_KEY=throwaway \
	"$root/packaging/deb/repo.sh" "$old_deb" "$deb" "$simdeb" 2>"$work/repo.log" ||
	{ cat "$work/repo.log" >&2; die "upgrade: repo.sh failed"; }
# The same repository with its Packages file altered after it was signed:
# a mirror or a man in the middle offering another version.
cp -a "$www/good" "$www/tampered"
packages=$www/tampered/dists/stable/main/binary-$arch/Packages
sed -i "s/^Version: $new_version\$/Version: 9.9.9-1/" "$packages"
grep -q '^Version: 9.9.9-1$' "$packages" || die "upgrade: could not tamper with $packages"
gzip -9n -c "$packages" >"$packages.gz"

http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$www" "$http_port" >"$work/http.log" 2>&1 &
http_pid=$!
for _ in $(seq 1 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$http_port") 2>/dev/null && break
	sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$http_port") 2>/dev/null || die "upgrade: the repository's web server did not start: $(cat "$work/http.log")"

# --- a second device, with the previous release -----------------------------
img=$work/image-upgrade
cp -a "$base" "$img"
machine_id=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
echo "$machine_id" >"$img/etc/machine-id"
mkdir -p "$img/var/log/journal"
thing=gw-$machine_id
install -D -m 0644 "$www/good/provisiond-archive-keyring.gpg" "$img/usr/share/keyrings/provisiond-archive-keyring.gpg"

# apt_source NAME: the device's apt source for provisiond, as a fleet
# configures it (deb822, Signed-By the repository's key only).
apt_source() {
	cat >"$img/etc/apt/sources.list.d/provisiond.sources" <<EOF
Types: deb
URIs: http://127.0.0.1:$http_port/$1
Suites: stable
Components: main
Signed-By: /usr/share/keyrings/provisiond-archive-keyring.gpg
EOF
}
apt_update_provisiond() {
	in_root apt-get update -o Dir::Etc::sourcelist=/etc/apt/sources.list.d/provisiond.sources \
		-o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
}

apt_source tampered
rc=0
apt_update_provisiond >"$work/apt-tampered.log" 2>&1 || rc=$?
candidate=$(in_root apt-cache policy provisiond 2>&1 | sed -n 's/^ *Candidate: *//p')
((rc != 0)) && grep -Eq 'Hash Sum mismatch|unexpected size' "$work/apt-tampered.log" && [[ ${candidate:-(none)} == "(none)" ]] ||
	{ cat "$work/apt-tampered.log" >&2; die "upgrade: apt accepted a tampered Packages file (exit $rc, candidate '${candidate}')"; }
say "upgrade: apt refused the tampered Packages file (exit $rc: $(grep -Eo 'Hash Sum mismatch|File has unexpected size[^)]*\)' "$work/apt-tampered.log" | head -n1)); no candidate"
rm -rf "$img"/var/lib/apt/lists/*127.0.0.1*
apt_source good

cp "$old_deb" "$img/tmp/provisiond.deb"
in_root dpkg -i /tmp/provisiond.deb >"$work/dpkg-install-old.log" 2>&1 ||
	{ cat "$work/dpkg-install-old.log" >&2; die "upgrade: dpkg -i of $old_version failed"; }
rm "$img/tmp/provisiond.deb"
etc=$img/etc/provisiond
cp "$sim/ca.pem" "$sim/claim.pem.crt" "$sim/claim.pem.key" "$etc/"
cp "$work/config.yaml" "$etc/config.yaml"
in_root chown root:provisiond /etc/provisiond/claim.pem.key
chmod 0640 "$etc/claim.pem.key"
in_root provisiond check --config /etc/provisiond/config.yaml >/dev/null ||
	die "upgrade: provisiond $old_version check rejects the boot-test config"
config_sum=$(sha256sum <"$etc/config.yaml")
install_reporter

# starts N: how often systemd started provisiond.service in boot N.
starts() {
	journalctl -D "$img/var/log/journal" --no-pager -o cat _BOOT_ID="$(boot_id_of "$1")" \
		UNIT=provisiond.service MESSAGE_ID=39f53479d3a045ac8e11786248231fbf 2>/dev/null | wc -l
}
# kept OLD NEW: the JSON keys of OLD that NEW lost or changed, and the keys
# NEW gained, as "lost: … gained: …".
kept() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
old, new = (json.load(open(p)) for p in sys.argv[1:3])
lost = sorted(k for k in old if k not in new or new[k] != old[k])
gained = sorted(k for k in new if k not in old)
print("lost: %s gained: %s" % (",".join(lost) or "none", ",".join(gained) or "none"))
EOF
}
state=$img/var/lib/provisiond

# --- boot 1: the previous release provisions --------------------------------
u_certs0=$(registry_certs)
boot 1
check_boot 1
u_r1=$img/var/lib/boot-test/report-1
u_cert=$(field credentials.certificateId "$u_r1")
[[ $(field version "$u_r1") == "provisiond ${old_version%-*}" ]] ||
	die "upgrade boot 1: provisiond version is '$(field version "$u_r1")', want $old_version"
u_certs1=$(registry_certs)
((u_certs1 == u_certs0 + 1)) || die "upgrade boot 1: fleetsim went from $u_certs0 to $u_certs1 certificates"
mkdir -p "$work/before-upgrade"
cp "$state/state.json" "$state/credentials.json" "$work/before-upgrade/"
say "upgrade boot 1: $old_version provisioned $thing as certificate ${u_cert:0:12}…"

# --- boot 2: apt upgrade while the daemon runs ------------------------------
echo "APT_INSTALL=provisiond" >"$img/etc/boot-test.conf"
boot 2
check_boot 2
u_r2=$img/var/lib/boot-test/report-2
[[ $(field apt_update "$u_r2") == 0 && $(field apt_install "$u_r2") == 0 ]] ||
	{ cat "$img/var/lib/boot-test/apt-2.log" >&2; die "upgrade boot 2: apt-get update exited $(field apt_update "$u_r2"), install $(field apt_install "$u_r2")"; }
[[ $(field installed "$u_r2") == "$new_version" ]] ||
	die "upgrade boot 2: apt installed $(field installed "$u_r2"), want $new_version"
[[ $(field version "$u_r2") == "provisiond $version (commit "* ]] ||
	die "upgrade boot 2: provisiond version is '$(field version "$u_r2")' after the upgrade, want $version"
n=$(starts 2)
[[ $n == 2 && $(field before.InvocationID "$u_r2") != "$(field after.InvocationID "$u_r2")" ]] ||
	die "upgrade boot 2: provisiond.service started $n times in this boot, want 2 (at boot, and once by the upgrade)"
[[ $(field credentials.certificateId "$u_r2") == "$u_cert" ]] ||
	die "upgrade boot 2: certificate $(field credentials.certificateId "$u_r2") after the upgrade, want $u_cert"
[[ $(registry_certs) == "$u_certs1" ]] || die "upgrade boot 2: fleetsim issued a certificate during the upgrade ($u_certs1 → $(registry_certs))"
creds_diff=$(kept "$work/before-upgrade/credentials.json" "$state/credentials.json")
[[ $creds_diff == "lost: none "* ]] || die "upgrade boot 2: credentials.json changed: $creds_diff"
state_diff=$(kept "$work/before-upgrade/state.json" "$state/state.json")
[[ $state_diff == "lost: none "* ]] || die "upgrade boot 2: state.json changed: $state_diff"
[[ $(sha256sum <"$etc/config.yaml") == "$config_sum" ]] || die "upgrade boot 2: the admin's config.yaml was replaced"
[[ -f $etc/config.yaml.dpkg-dist ]] || die "upgrade boot 2: no config.yaml.dpkg-dist: dpkg saw no new packaged config.yaml (is it still a conffile?)"
[[ $(field status "$u_r2") == registered* ]] || die "upgrade boot 2: provisiond status says '$(field status "$u_r2")'"
say "upgrade boot 2: apt upgraded $old_version → $new_version from the signed repository; provisiond restarted once, same certificate, no new one in fleetsim; credentials.json $creds_diff; state.json $state_diff; config.yaml kept (new one as .dpkg-dist); status: $(field status "$u_r2")"

# --- boot 3: reboot, then the way back --------------------------------------
# 0.2.0 writes state format 1 as 0.1.0 did, adding fields 0.1.0 ignores, so
# the previous release keeps working on it (docs: packaging/README.md).
echo "APT_INSTALL=provisiond=$old_version" >"$img/etc/boot-test.conf"
boot 3
check_boot 3
u_r3=$img/var/lib/boot-test/report-3
[[ $(field before.version "$u_r3") == "provisiond $version (commit "* &&
	$(field before.credentials.certificateId "$u_r3") == "$u_cert" ]] ||
	die "upgrade boot 3: after the reboot, $(field before.version "$u_r3") had certificate $(field before.credentials.certificateId "$u_r3"), want $version with $u_cert"
[[ $(field apt_install "$u_r3") == 0 && $(field installed "$u_r3") == "$old_version" ]] ||
	{ cat "$img/var/lib/boot-test/apt-3.log" >&2; die "upgrade boot 3: apt downgrade exited $(field apt_install "$u_r3"), installed $(field installed "$u_r3")"; }
[[ $(field version "$u_r3") == "provisiond ${old_version%-*}" ]] ||
	die "upgrade boot 3: provisiond version is '$(field version "$u_r3")' after the downgrade"
n=$(starts 3)
[[ $n == 2 ]] || die "upgrade boot 3: provisiond.service started $n times, want 2 (at boot, and once by the downgrade)"
[[ $(field credentials.certificateId "$u_r3") == "$u_cert" ]] ||
	die "upgrade boot 3: certificate $(field credentials.certificateId "$u_r3") after the downgrade, want $u_cert"
[[ $(registry_certs) == "$u_certs1" ]] || die "upgrade boot 3: fleetsim issued a certificate ($u_certs1 → $(registry_certs))"
back_diff=$(kept "$work/before-upgrade/credentials.json" "$state/credentials.json")
[[ $back_diff == "lost: none "* ]] || die "upgrade boot 3: credentials.json after the downgrade: $back_diff"
say "upgrade boot 3: after the reboot $version kept certificate ${u_cert:0:12}…; apt downgraded to $old_version, which runs on the same state (registered, same certificate, fleetsim still $u_certs1)"

upgrade_summary="apt refused a tampered Packages file; $old_version provisioned, apt upgraded it to $new_version from the signed repository with one restart, the same certificate after the upgrade and a reboot, no new certificate, credentials.json and state.json only gained fields, config.yaml kept; the downgrade to $old_version keeps working on the same state"
phase=
