#!/usr/bin/env bash
# The browser bundle's size as a person downloads it, compressed with gzip -9 (what the
# portal's compression layer serves). Built the way a release is: `cargo leptos build --release
# --split` (the wasm-release profile: opt-level z, LTO, one codegen unit, panic=abort; every
# lazy route split into its own chunks; then wasm-opt with the workspace's wasm-opt-features).
# Writes the release bundle into target/site/pkg, where the next `./dev run` or `./dev test`
# replaces it with a development one.
#   scripts/wasm-size.sh          prints each file's raw and gzipped size, then what a first
#                                 visit downloads, starting on My City or on any other page
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$ROOT"
ensure_build_tools
# A release build runs wasm-opt (Debian's binaryen); cargo-leptos would otherwise try to
# download one.
apt_install binaryen
cargo leptos build --release --split --frontend-only >/dev/null
pkg="$ROOT/target/site/pkg"
node - "$pkg" <<'JS'
const fs = require("fs");
const path = require("path");
const zlib = require("zlib");
const pkg = process.argv[2];
const gz = (f) => zlib.gzipSync(fs.readFileSync(path.join(pkg, f)), { level: 9 }).length;
const raw = (f) => fs.statSync(path.join(pkg, f)).size;
const files = fs.readdirSync(pkg).filter((f) => /\.(wasm|js)$/.test(f)).sort();
const row = (name, r, g) => console.log(`${name.padEnd(52)} ${String(r).padStart(10)} ${String(g).padStart(10)}`);
row("file", "bytes", "gzipped");
for (const f of files) row(f, raw(f), gz(f));
// Every visit loads the main module, its glue and the split loader; a lazy page adds the
// chunks the manifest lists for it.
const base = ["onecity.wasm", "onecity.js", ...files.filter((f) => f.startsWith("__wasm_split"))];
const sum = (fs_) => fs_.reduce((n, f) => n + gz(f), 0);
console.log("\nfirst visit, gzipped bytes:");
row("My City or the public city (main module only)", "", sum(base));
const manifest = JSON.parse(fs.readFileSync(path.join(pkg, "__wasm_split_manifest.json"), "utf8"));
for (const [split, chunks] of Object.entries(manifest).sort()) {
  const page = split.replace(/^__/, "").replace(/_view_\d+$/, "");
  row(`${page} (main + ${chunks.length} chunks)`, "", sum(base) + sum(chunks.map((c) => `${c}.wasm`)));
}
row("every page visited (all files)", "", sum(files));
JS
