#!/usr/bin/env node
// Compiles the contracts in src/ with the pinned solc (package.json) and writes out/<Name>.json
// (ABI and bytecode). `node build.js --check` compiles again and fails unless the committed
// artifacts are reproduced byte for byte: the node embeds those artifacts, so no Solidity
// compiler is needed to build or run it.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const SRC = path.join(__dirname, "src");
const OUT = path.join(__dirname, "out");
const check = process.argv.includes("--check");
// The contracts the node deploys; the libraries (Poseidon, Rows) are compiled into them.
const DEPLOYED = ["Groth16Verifier", "QueryResults", "RowLog", "ZkmlResults"];

const sources = {};
for (const file of fs.readdirSync(SRC).filter((f) => f.endsWith(".sol")).sort()) {
  sources[file] = { content: fs.readFileSync(path.join(SRC, file), "utf8") };
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    viaIR: true,
    // No metadata trailer: the bytecode is the code alone.
    metadata: { appendCBOR: false },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
// Warnings fail the build as errors do.
const errors = (output.errors || []).filter((e) => e.severity !== "info");
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length > 0) process.exit(1);

let stale = 0;
fs.mkdirSync(OUT, { recursive: true });
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    if (!DEPLOYED.includes(name)) continue;
    const artifact =
      JSON.stringify(
        {
          contractName: name,
          sourceName: `contracts/src/${file}`,
          compiler: `solc ${solc.version()}`,
          abi: c.abi,
          bytecode: "0x" + c.evm.bytecode.object,
          deployedBytecode: "0x" + c.evm.deployedBytecode.object,
        },
        null,
        2,
      ) + "\n";
    const target = path.join(OUT, `${name}.json`);
    if (check) {
      const committed = fs.existsSync(target) ? fs.readFileSync(target, "utf8") : "";
      if (committed !== artifact) {
        console.error(`${path.relative(process.cwd(), target)} is not what solc ${solc.version()} makes of the sources`);
        stale++;
      }
    } else {
      fs.writeFileSync(target, artifact);
      console.log(`wrote ${path.relative(process.cwd(), target)} (${c.evm.deployedBytecode.object.length / 2} bytes deployed)`);
    }
  }
}
if (stale > 0) {
  console.error("run `node contracts/build.js` and commit contracts/out");
  process.exit(1);
}
