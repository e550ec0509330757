#!/usr/bin/env bash
# Fuzz every parser of the chain crate (libFuzzer + AddressSanitizer through cargo-fuzz).
#   scripts/fuzz.sh [SECONDS per target = 30] [TARGET ...]
# Runs on the stable toolchain: RUSTC_BOOTSTRAP=1 lets it accept cargo-fuzz's -Z flags.
# New inputs go to .data/fuzz/<target>; the committed seeds in chain/fuzz/corpus stay clean.
# A crash stops the run and leaves its input in chain/fuzz/artifacts/<target>/.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
secs="${1:-30}"
shift || true
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz@0.13.2
cd "$ROOT/chain/fuzz"
# Its own workspace and target dir: sanitizer builds share nothing with the main build.
export CARGO_TARGET_DIR="$ROOT/chain/fuzz/target"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
for t in "${targets[@]}"; do
  log "fuzzing $t for ${secs}s"
  mkdir -p "$DATA/fuzz/$t"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "$DATA/fuzz/$t" "corpus/$t" -- -max_total_time="$secs"
done
log "no crashes in ${#targets[@]} targets"
