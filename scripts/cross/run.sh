#!/usr/bin/env bash
# Cross checks from a Linux x64 (Debian) host, for the platform tables this host cannot run natively:
#
#   linux-arm64-glibc  probe built with aarch64-linux-gnu-gcc and run under qemu-aarch64 (user mode),
#                      compared with ffi/tables/linux-arm64-glibc.ts; then the arm64 build of the
#                      pinned bun runs test/probe.test.ts, posix, socket and poller under qemu-aarch64
#                      (poller asserts the 16-byte struct epoll_event with data at offset 8).
#   linux-x64-musl     probe built with musl-gcc, compared with ffi/tables/linux-x64-musl.ts; then
#                      the musl build of bun runs the same test files (best effort, see below).
#
#   bash scripts/cross/run.sh           # check (npm run test:cross)
#   bash scripts/cross/run.sh --regen   # rewrite both tables from the probes, then check
#
# Installs what it needs: Debian packages (as root, or with passwordless sudo) and the bun builds
# (`npm pack @oven/bun-linux-aarch64@<pinned version>` etc.), unpacked into .cache/cross/ (ignored).
# Exits non-zero on any failure and ends with a summary, one line per step.
#
# Under qemu-user (no binfmt handler is registered, and this script does not register one) the
# arm64 bun cannot exec another arm64 binary, so tests that spawn a bun child are skipped there
# (BSDSOCK_NO_SPAWN_BUN=1). Host (x64) programs it spawns -- cc, the C peers, qemu -- run natively.
#
# musl: Debian ships musl but no musl-built libstdc++, which bun's musl build needs. The runtime
# assembled in .cache/cross/musl-runtime/ borrows the host's glibc-built libstdc++/libgcc_s and
# supplies the handful of glibc-only symbols they import from a small shim built with musl-gcc
# (lib/shim.c). bun and bsdsock run on musl's libc (that is what the tests exercise); the C++
# runtime underneath is not a real Alpine one. The probe-vs-table check is the authoritative part.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
here=$root/scripts/cross
cache=$root/.cache/cross
host_bun=$root/node_modules/.bin/bun
sysroot_arm64=/usr/aarch64-linux-gnu
qemu_arm64="qemu-aarch64 -L $sysroot_arm64"
regen=0
for arg in "$@"; do
  case $arg in
    --regen) regen=1 ;;
    *) echo "usage: bash scripts/cross/run.sh [--regen]" >&2; exit 2 ;;
  esac
done

started=$SECONDS
summary=()
failed=0
pass() { summary+=("PASS  $1"); }
fail() { summary+=("FAIL  $1"); failed=1; }
finish() {
  echo
  echo "== test:cross summary ($((SECONDS - started))s)"
  printf '%s\n' "${summary[@]}"
  if [ "$failed" -ne 0 ]; then echo "test:cross FAILED"; exit 1; fi
  echo "test:cross passed"
  exit 0
}

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "scripts/cross/run.sh needs a Linux x86_64 host (this is $(uname -s)-$(uname -m))"
  fail "host is Linux x86_64"; finish
fi
case $root in *" "*) echo "the checkout path must not contain spaces (compiler commands are split on spaces)"; fail "checkout path"; finish ;; esac
if [ ! -x "$host_bun" ]; then
  echo "$host_bun missing: run npm install first"
  fail "pinned bun in node_modules"; finish
fi
bun_version=$("$host_bun" --version)

# --- 1. Debian packages -------------------------------------------------------------------------
echo "== packages"
have() { command -v "$1" >/dev/null 2>&1; }
missing=()
have qemu-aarch64 || missing+=(qemu-user)
have aarch64-linux-gnu-gcc || missing+=(gcc-aarch64-linux-gnu)
[ -e $sysroot_arm64/lib/libc.so.6 ] || missing+=(libc6-arm64-cross)
[ -e $sysroot_arm64/include/stdio.h ] || missing+=(libc6-dev-arm64-cross)
have musl-gcc || missing+=(musl musl-dev musl-tools)
[ -e /usr/include/linux/version.h ] || missing+=(linux-libc-dev)
have patchelf || missing+=(patchelf)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if sudo -n true 2>/dev/null; then sudo=(sudo -n); else
      echo "need root (or passwordless sudo) to apt-get install ${missing[*]}"
      fail "apt packages: ${missing[*]}"; finish
    fi
  fi
  if ! { "${sudo[@]}" apt-get update -qq \
    && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; }; then
    fail "apt packages: ${missing[*]}"; finish
  fi
fi
pass "packages (qemu-user, aarch64 cross gcc + libc, musl-tools, patchelf)"

# --- 2. bun builds from npm ---------------------------------------------------------------------
mkdir -p "$cache"
# Unpacks npm package $1 at the pinned version into $2 (once).
fetch_pkg() {
  local pkg=$1 dir=$2 tmp
  [ -x "$dir/bin/bun" ] && return 0
  echo "fetching $pkg@$bun_version"
  tmp=$(mktemp -d) || return 1
  if (cd "$tmp" && npm pack --silent "$pkg@$bun_version" >/dev/null) && mkdir -p "$dir" \
    && tar xzf "$tmp"/*.tgz -C "$dir" --strip-components=1; then
    rm -rf "$tmp"
  else
    rm -rf "$tmp" "$dir"; return 1
  fi
}
bun_arm64=$cache/bun-linux-aarch64-$bun_version/bin/bun
bun_musl_pkg=$cache/bun-linux-x64-musl-$bun_version
if fetch_pkg @oven/bun-linux-aarch64 "$cache/bun-linux-aarch64-$bun_version" \
  && [ "$($qemu_arm64 "$bun_arm64" --version 2>&1)" = "$bun_version" ]; then
  pass "bun $bun_version linux-aarch64 runs under qemu-aarch64"
else
  fail "bun $bun_version linux-aarch64 under qemu-aarch64"; bun_arm64=""
fi

# --- 3. probes vs committed tables ----------------------------------------------------------------
# musl-gcc sees only musl's headers; the probe's <linux/version.h> comes from the kernel headers.
# Only linux/, asm/ and asm-generic/ are added (glibc's own headers must stay out of the path).
kheaders=$cache/musl-kheaders
mkdir -p "$kheaders"
ln -sfn /usr/include/linux "$kheaders/linux"
ln -sfn /usr/include/x86_64-linux-gnu/asm "$kheaders/asm"
ln -sfn /usr/include/asm-generic "$kheaders/asm-generic"
musl_cc="musl-gcc -isystem $kheaders"

gen() { (cd "$root" && "$host_bun" run ffi/gen/generate.ts "$@"); }
for target in arm64 musl; do
  if [ $target = arm64 ]; then args=(--cc aarch64-linux-gnu-gcc --run "$qemu_arm64"); key=linux-arm64-glibc
  else args=(--cc "$musl_cc"); key=linux-x64-musl; fi
  echo "== probe $key"
  if [ $regen -eq 1 ]; then
    if gen "${args[@]}"; then pass "regenerated ffi/tables/$key.ts"; else fail "regenerate ffi/tables/$key.ts"; fi
  fi
  if gen "${args[@]}" --check; then pass "probe $key == ffi/tables/$key.ts"; else fail "probe $key == ffi/tables/$key.ts"; fi
done

# --- 4. tests under the foreign bun builds --------------------------------------------------------
# probe: layouts/constants vs the platform's compiler; posix and socket: the C-shaped layer and the
# Socket class on real sockets; poller: epoll on real fds, incl. the struct epoll_event round trip
# (16 bytes, data at offset 8 on arm64; 12/4 on x86_64) and the poll() fallback.
tests=(test/probe.test.ts test/posix.test.ts test/socket.test.ts test/poller.test.ts)
# Runs `bun test` with the given command prefix; records "N pass, N fail, N skip" in the summary.
run_tests() {
  local label=$1; shift
  local log; log=$(mktemp)
  echo "== $label: bun test ${tests[*]}"
  (cd "$root" && "$@" test "${tests[@]}") 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  count() { grep -E "^ *[0-9]+ $1\$" "$log" | tail -n 1 | tr -dc '0-9'; }
  local p f s; p=$(count pass); f=$(count fail); s=$(count skip)
  local line="$label: ${p:-0} pass, ${f:-0} fail, ${s:-0} skip"
  rm -f "$log"
  if [ "$status" -eq 0 ] && [ "${p:-0}" -gt 0 ]; then pass "$line"; else fail "$line (exit $status)"; fi
}

if [ -n "$bun_arm64" ]; then
  run_tests "linux-arm64-glibc (qemu)" env \
    BSDSOCK_PROBE_CC=aarch64-linux-gnu-gcc BSDSOCK_PROBE_RUN="$qemu_arm64" BSDSOCK_NO_SPAWN_BUN=1 \
    $qemu_arm64 "$bun_arm64"
fi

# The musl runtime (see the header): bun's musl build, made to find musl's libc under its Alpine
# name and the host's libstdc++/libgcc_s next to it ($ORIGIN), plus the glibc-symbol shim.
musl_rt=$cache/musl-runtime-$bun_version
setup_musl_runtime() {
  [ -x "$musl_rt/bun" ] && cmp -s "$musl_rt/.shim.c" "$here/lib/shim.c" && return 0
  rm -rf "$musl_rt" && mkdir -p "$musl_rt" || return 1
  fetch_pkg @oven/bun-linux-x64-musl "$bun_musl_pkg" || return 1
  local libstdcxx libgcc
  libstdcxx=$(gcc -print-file-name=libstdc++.so.6) && libgcc=$(gcc -print-file-name=libgcc_s.so.1) || return 1
  cp "$bun_musl_pkg/bin/bun" "$libstdcxx" "$libgcc" "$musl_rt/" \
    && ln -sfn /usr/lib/x86_64-linux-musl/libc.so "$musl_rt/libc.musl-x86_64.so.1" \
    && musl-gcc -shared -fPIC -O2 -Wall -Werror -o "$musl_rt/libglibcshim.so" "$here/lib/shim.c" \
    && patchelf --set-rpath '$ORIGIN' "$musl_rt/bun" \
    && patchelf --remove-needed ld-linux-x86-64.so.2 "$musl_rt/libstdc++.so.6" \
    && patchelf --add-needed libglibcshim.so "$musl_rt/libstdc++.so.6" \
    && patchelf --set-rpath '$ORIGIN' "$musl_rt/libstdc++.so.6" \
    && patchelf --set-rpath '$ORIGIN' "$musl_rt/libgcc_s.so.1" \
    && cp "$here/lib/shim.c" "$musl_rt/.shim.c"
}
if [ ! -e /lib/ld-musl-x86_64.so.1 ]; then
  fail "musl bun: /lib/ld-musl-x86_64.so.1 missing (package musl)"
elif setup_musl_runtime && [ "$("$musl_rt/bun" --version 2>&1)" = "$bun_version" ]; then
  pass "bun $bun_version linux-x64-musl runs (host libstdc++ + shim)"
  # CC=musl-gcc: the tests' C peers are built against musl too, like everything else in the process.
  run_tests "linux-x64-musl" env BSDSOCK_PROBE_CC="$musl_cc" CC=musl-gcc "$musl_rt/bun"
else
  fail "bun $bun_version linux-x64-musl runtime (see output above)"
fi

finish
