#!/usr/bin/env bash
# dpkg -i, dpkg -i again, dpkg -r and dpkg --purge of the provisiond .deb in a
# chroot of a copy of IMAGE (a Debian root with systemd, e.g. boot-test's
# cached image): install creates the user, the state directory and the enable
# symlink; an upgrade keeps config edits and a disabled unit; remove keeps the
# identity; purge deletes it and leaves no file, symlink or dangling link
# behind. Needs root.
#
# usage: purge-test.sh IMAGE_DIR provisiond_VERSION_ARCH.deb
set -euo pipefail

base=$1
deb=$2
say() { printf 'purge-test: %s\n' "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }

[[ -d $base/usr/lib/systemd ]] || die "$base is not a root with systemd"
[[ -f $deb ]] || die "no package $deb"

work=$(mktemp -d /var/tmp/provisiond-purge-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
img=$work/root
cp -a "$base" "$img"

# chroot with /proc mounted, as image builders do; the mount lives in a
# private mount namespace and goes away with the command.
in_root() {
	unshare --mount --propagation private -- \
		sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$img" "$@"
}
# Dangling links, resolved inside the root (an absolute link outside a
# chroot would resolve against the host).
dangling() { in_root find / -xdev -xtype l 2>/dev/null | sort; }
# Everything on the file system, to compare before and after.
inventory() {
	in_root find / -xdev \( -path /var/cache -o -path /var/log -o -path /var/lib/dpkg -o -path /tmp \) -prune \
		-o -print 2>/dev/null | sort
}

dangling >"$work/dangling.before"
inventory >"$work/files.before"

cp "$deb" "$img/tmp/provisiond.deb"
in_root dpkg -i /tmp/provisiond.deb >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; die "dpkg -i"; }
rm "$img/tmp/provisiond.deb"

in_root getent passwd provisiond >/dev/null || die "install: no provisiond user"
in_root getent group provisiond >/dev/null || die "install: no provisiond group"
[[ -L $img/etc/systemd/system/multi-user.target.wants/provisiond.service ]] ||
	die "install: provisiond.service is not enabled"
[[ $(in_root stat -c '%U:%G %a' /var/lib/provisiond) == "provisiond:provisiond 750" ]] ||
	die "install: /var/lib/provisiond is $(in_root stat -c '%U:%G %a' /var/lib/provisiond), want provisiond:provisiond 750"
in_root dpkg-query -W -f '${Conffiles}\n' provisiond | grep -q ' /etc/provisiond/config.yaml ' ||
	die "install: /etc/provisiond/config.yaml is not a conffile"

# An upgrade (here a reinstall) keeps the admin's config edits and the admin's
# choice to disable the service.
echo "# edited by the admin" >>"$img/etc/provisiond/config.yaml"
in_root systemctl disable provisiond.service >/dev/null 2>&1 || die "systemctl disable in the chroot"
cp "$deb" "$img/tmp/provisiond.deb"
in_root dpkg -i /tmp/provisiond.deb >"$work/upgrade.log" 2>&1 || { cat "$work/upgrade.log" >&2; die "dpkg -i again"; }
rm "$img/tmp/provisiond.deb"
grep -q "^# edited by the admin" "$img/etc/provisiond/config.yaml" || die "upgrade: the admin's config edit was lost"
[[ ! -e $img/etc/systemd/system/multi-user.target.wants/provisiond.service ]] ||
	die "upgrade: provisiond.service was enabled again after the admin disabled it"
in_root systemctl enable provisiond.service >/dev/null 2>&1 || die "systemctl enable in the chroot"

# Stand-ins for a device identity.
in_root install -o provisiond -g provisiond -m 0600 /dev/null /var/lib/provisiond/device.key
in_root install -o provisiond -g provisiond -m 0644 /dev/null /var/lib/provisiond/credentials.json

in_root dpkg -r provisiond >"$work/remove.log" 2>&1 || { cat "$work/remove.log" >&2; die "dpkg -r"; }
[[ -f $img/var/lib/provisiond/device.key ]] || die "remove: the device identity was deleted; only purge may do that"

in_root dpkg --purge provisiond >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; die "dpkg --purge"; }
[[ ! -e $img/var/lib/provisiond ]] || die "purge: /var/lib/provisiond is still there"

dangling >"$work/dangling.after"
if ! diff -u "$work/dangling.before" "$work/dangling.after" >"$work/dangling.diff"; then
	cat "$work/dangling.diff" >&2
	die "purge left dangling links"
fi
inventory >"$work/files.after"
# The system user stays, as Debian does for system users; its home never existed.
if ! diff -u "$work/files.before" "$work/files.after" >"$work/files.diff"; then
	cat "$work/files.diff" >&2
	die "purge left files behind"
fi
say "ok: install enabled the unit and made provisiond:provisiond 0750 state; an upgrade kept a config edit and a disabled unit; remove kept the identity; purge deleted it and left no files and no dangling links"
