#!/bin/bash
# Builds build/swiftmon_<version>_<arch>.deb from the swiftmon binary already
# built (`make build`): no second Swift build of swiftmon. Everything in the
# package comes from that binary: the unit (`swiftmon service unit`), the
# configuration template (`swiftmon config default`), the shell completions
# (swift-argument-parser's --generate-completion-script) and the man page
# (swift-argument-parser's generate-manual tool, run on the binary).
#
# Environment: BINARY (default .build/release/swiftmon), DEB_VERSION (default
# the binary's --version), OUT (default build), GENERATE_MANUAL (the
# generate-manual tool; built from the argument-parser checkout when unset).
set -euo pipefail

BINARY=${BINARY:-.build/release/swiftmon}
OUT=${OUT:-build}
VERSION=${DEB_VERSION:-$("$BINARY" --version)}
ARCH=$(dpkg --print-architecture)
NAME=swiftmon_${VERSION}_${ARCH}
STAGE=$OUT/deb/$NAME
DEB=$OUT/$NAME.deb

umask 022
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/usr/bin" "$STAGE/lib/systemd/system" "$STAGE/usr/share/swiftmon" \
         "$STAGE/usr/share/man/man1" "$STAGE/usr/share/doc/swiftmon" \
         "$STAGE/usr/share/bash-completion/completions" "$STAGE/usr/share/zsh/vendor-completions" \
         "$STAGE/usr/share/fish/vendor_completions.d"

# The binary as tested, without its symbol tables (code and data unchanged).
install -m 0755 "$BINARY" "$STAGE/usr/bin/swiftmon"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$STAGE/usr/bin/swiftmon"

"$BINARY" service unit --executable /usr/bin/swiftmon > "$STAGE/lib/systemd/system/swiftmon.service"
"$BINARY" config default > "$STAGE/usr/share/swiftmon/config.xml"
# bash-completion sources the file: no #! line.
"$BINARY" --generate-completion-script bash | sed '1{/^#!/d}' > "$STAGE/usr/share/bash-completion/completions/swiftmon"
"$BINARY" --generate-completion-script zsh > "$STAGE/usr/share/zsh/vendor-completions/_swiftmon"
"$BINARY" --generate-completion-script fish > "$STAGE/usr/share/fish/vendor_completions.d/swiftmon.fish"

# The man page: swift-argument-parser's generate-manual reads the binary's
# --experimental-dump-help. The tool is built once (small: the parser and
# the tool) from the checkout SwiftPM already resolved, outside .build.
if [ -z "${GENERATE_MANUAL:-}" ]; then
    checkout=.build/checkouts/swift-argument-parser
    [ -d "$checkout" ] || swift package resolve
    swift build --package-path "$checkout" --scratch-path "$OUT/tools" -c release --product generate-manual >&2
    GENERATE_MANUAL=$OUT/tools/release/generate-manual
fi
man_dir=$(mktemp -d)
trap 'rm -rf "$man_dir"' EXIT
"$GENERATE_MANUAL" "$BINARY" --output-directory "$man_dir" --section 1 \
    --authors "The swiftmon developers" >&2
for page in "$man_dir"/*.1; do
    gzip -9n < "$page" > "$STAGE/usr/share/man/man1/$(basename "$page").gz"
done

install -m 0644 dist/debian/copyright "$STAGE/usr/share/doc/swiftmon/copyright"
mkdir -p "$STAGE/usr/share/lintian/overrides"
install -m 0644 dist/debian/lintian-overrides "$STAGE/usr/share/lintian/overrides/swiftmon"
# A native package: its changelog is changelog.gz, its top entry this version.
date=$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")
printf 'swiftmon (%s) unstable; urgency=medium\n\n  * Built from the swiftmon repository (git %s).\n\n -- swiftmon developers <swiftmon-devel@example.org>  %s\n' \
    "$VERSION" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$date" \
    | gzip -9n > "$STAGE/usr/share/doc/swiftmon/changelog.gz"

for script in postinst prerm postrm; do
    install -m 0755 "dist/debian/$script" "$STAGE/DEBIAN/$script"
done

# Depends: what the binary links, as dpkg-shlibdeps finds it from the
# installed libraries' shlibs/symbols (libc6, libbpf1, …).
shlib_dir=$(mktemp -d)
mkdir -p "$shlib_dir/debian"
printf 'Source: swiftmon\n\nPackage: swiftmon\nArchitecture: any\n' > "$shlib_dir/debian/control"
binary_path=$(readlink -f "$STAGE/usr/bin/swiftmon")
depends=$(cd "$shlib_dir" && dpkg-shlibdeps -O "$binary_path" | sed -n 's/^shlibs:Depends=//p')
rm -rf "$shlib_dir"
[ -n "$depends" ] || { echo "make-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

installed_size=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: swiftmon
Version: $VERSION
Architecture: $ARCH
Maintainer: swiftmon developers <swiftmon-devel@example.org>
Installed-Size: $installed_size
Depends: $depends
Section: admin
Priority: optional
Description: endpoint activity monitor: kernel events in Sysmon's schema
 swiftmon watches a Linux machine through eBPF programs: process and thread
 start and exit, network connections, files created, deleted and renamed,
 kernel-module loads, executable mappings, raw disk reads, ptrace and
 cross-process memory access, BPF program loads and systemd unit installs.
 Each becomes one event in Sysmon's schema, filtered by an ordinary Sysmon
 configuration, written as Sysmon XML to syslog, to an embedded SQLite store,
 as JSON lines or text.
 .
 The package installs a hardened systemd service (swiftmon.service) that
 starts at boot; swiftmon service status and swiftmon config update talk to
 it through a root-only control socket.
CONTROL

(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$STAGE/DEBIAN/md5sums"
chmod 0644 "$STAGE/DEBIAN/control" "$STAGE/DEBIAN/md5sums"

# gzip rather than xz: far faster on the 70 MB binary, and every dpkg reads it.
dpkg-deb --root-owner-group -Zgzip --build "$STAGE" "$DEB" >&2
echo "$DEB"
