#!/usr/bin/env bash
# The browser bundle's size as a person downloads it: the wasm-release profile (opt-level z,
# LTO, one codegen unit, panic=abort), wasm-bindgen without the name and producers sections,
# and again after wasm-opt -Oz when binaryen is installed (`apt-get install binaryen`);
# compressed with gzip -9 (what the portal's compression layer serves).
#   scripts/wasm-size.sh          prints raw and gzipped sizes of the .wasm and the .js glue
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$ROOT"
cargo build -q -p app --lib --target wasm32-unknown-unknown --profile wasm-release --no-default-features --features hydrate
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section \
  --out-dir "$out" --out-name onecity \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/app.wasm"
size() { stat -c %s "$1"; }
gz() { gzip -9 -c "$1" | wc -c; }
wasm="$out/onecity_bg.wasm"
printf 'onecity.wasm  %8d bytes  %8d gzipped  (wasm-bindgen)\n' "$(size "$wasm")" "$(gz "$wasm")"
if command -v wasm-opt >/dev/null; then
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types -o "$out/opt.wasm" "$wasm"
  printf 'onecity.wasm  %8d bytes  %8d gzipped  (then wasm-opt -Oz)\n' "$(size "$out/opt.wasm")" "$(gz "$out/opt.wasm")"
fi
printf 'onecity.js    %8d bytes  %8d gzipped\n' "$(size "$out/onecity.js")" "$(gz "$out/onecity.js")"
