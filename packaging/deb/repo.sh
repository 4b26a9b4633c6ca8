#!/usr/bin/env bash
# make repo: a signed apt repository in dist/apt/ from .deb files, laid out
# as apt expects on any static web server:
#
#   dist/apt/pool/main/<package>_<version>_<arch>.deb
#   dist/apt/dists/stable/main/binary-<arch>/Packages(.gz)
#   dist/apt/dists/stable/{Release,Release.gpg,InRelease}
#   dist/apt/provisiond-archive-keyring.gpg   (the public key, for signed-by)
#
# Made with apt-ftparchive (apt-utils) and signed with gpg.
#
# usage: repo.sh [DEB...]   (default: every dist/*.deb)
#
# Environment:
#   APT_SIGNING_KEY=FINGERPRINT   the fleet's release key, in GNUPGHOME (or
#                                 the caller's default keyring); required
#   APT_SIGNING_KEY=throwaway     a new key made for this run only (tests);
#                                 its public half is the keyring above
#   APT_REPO_DIR=dist/apt         where the repository is written
#   APT_SUITE=stable              the suite (and codename) devices name
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=${APT_REPO_DIR:-dist/apt}
suite=${APT_SUITE:-stable}
key=${APT_SIGNING_KEY:-}

say() { printf 'repo: %s\n' "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }

[[ -n $key ]] || die "APT_SIGNING_KEY is not set: name the release key's fingerprint (in GNUPGHOME), or APT_SIGNING_KEY=throwaway for a test key"
missing=()
command -v apt-ftparchive >/dev/null || missing+=(apt-utils)
command -v gpg >/dev/null || missing+=(gnupg)
if ((${#missing[@]})); then
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi

debs=("$@")
if ((${#debs[@]} == 0)); then
	shopt -s nullglob
	debs=(dist/*.deb)
	shopt -u nullglob
fi
((${#debs[@]})) || die "no .deb files (run make deb first)"

tmp=$(mktemp -d /tmp/provisiond-repo.XXXXXX)
cleanup() {
	[[ -n ${GNUPGHOME:-} && $GNUPGHOME == "$tmp"/* ]] && gpgconf --homedir "$GNUPGHOME" --kill all 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

if [[ $key == throwaway ]]; then
	export GNUPGHOME=$tmp/gnupg
	mkdir -m 0700 "$GNUPGHOME"
	gpg --batch --quiet --passphrase '' --quick-gen-key \
		'provisiond test repository (throwaway) <test@invalid>' ed25519 sign 1d 2>/dev/null ||
		die "gpg could not make a throwaway key"
	key=$(gpg --batch --with-colons --list-secret-keys | awk -F: '$1 == "fpr" { print $10; exit }')
	say "signing with a throwaway key $key"
fi
gpg --batch --list-secret-keys "$key" >/dev/null 2>&1 ||
	die "APT_SIGNING_KEY $key: no such secret key in ${GNUPGHOME:-~/.gnupg}"

rm -rf "$out"
mkdir -p "$out/pool/main"
arches=()
for deb in "${debs[@]}"; do
	[[ -f $deb ]] || die "$deb: no such file"
	a=$(dpkg-deb -f "$deb" Architecture)
	[[ " ${arches[*]} " == *" $a "* ]] || arches+=("$a")
	cp "$deb" "$out/pool/main/"
done

# Paths in Packages are relative to the repository root, so run from there.
(
	cd "$out"
	for a in "${arches[@]}"; do
		d=dists/$suite/main/binary-$a
		mkdir -p "$d"
		apt-ftparchive --arch "$a" packages pool/main >"$d/Packages"
		gzip -9n -c "$d/Packages" >"$d/Packages.gz"
	done
	# The Release date is the packages' build time, so that the same .debs
	# make the same repository.
	date=$(LC_ALL=C date -u -R -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")
	apt-ftparchive \
		-o APT::FTPArchive::Release::Origin=provisiond \
		-o APT::FTPArchive::Release::Label=provisiond \
		-o APT::FTPArchive::Release::Suite="$suite" \
		-o APT::FTPArchive::Release::Codename="$suite" \
		-o APT::FTPArchive::Release::Architectures="${arches[*]}" \
		-o APT::FTPArchive::Release::Components=main \
		-o APT::FTPArchive::Release::Date="$date" \
		release "dists/$suite" >"$tmp/Release"
	mv "$tmp/Release" "dists/$suite/Release"
	gpg --batch --yes --local-user "$key" --clearsign -o "dists/$suite/InRelease" "dists/$suite/Release"
	gpg --batch --yes --local-user "$key" --armor --detach-sign -o "dists/$suite/Release.gpg" "dists/$suite/Release"
	gpg --batch --export "$key" >provisiond-archive-keyring.gpg
)
say "wrote $out: ${#debs[@]} packages for ${arches[*]}, suite $suite, signed by $key"
