/** The committed protobuf code in src/gen is what `npm run generate` writes from ../../proto. */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { it } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

async function files(dir: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    found.set(relative(dir, path), await readFile(path, "utf8"));
  }
  return found;
}

it("src/gen is up to date with the proto files", async () => {
  const out = await mkdtemp(join(tmpdir(), "tidings-gen-"));
  try {
    execFileSync(join(root, "node_modules/.bin/buf"), ["generate", "--template", "buf.gen.yaml", "-o", out, ...generateArgs()], {
      cwd: root,
      stdio: "pipe",
      env: { ...process.env, PATH: `${join(root, "node_modules/.bin")}:${process.env["PATH"] ?? ""}` },
    });
    const fresh = await files(join(out, "src/gen"));
    const committed = await files(join(root, "src/gen"));
    assert.deepEqual([...committed.keys()].sort(), [...fresh.keys()].sort());
    for (const [path, text] of fresh) {
      assert.equal(committed.get(path), text, `src/gen/${path} is stale: run npm run generate`);
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

/** The input and paths of `npm run generate`, read from package.json so the two cannot drift. */
function generateArgs(): string[] {
  const pkg = JSON.parse(execFileSync("node", ["-p", "JSON.stringify(require('./package.json'))"], { cwd: root, encoding: "utf8" })) as {
    scripts: Record<string, string>;
  };
  const script = pkg.scripts["generate"] ?? "";
  return script.split(/\s+/).slice(2).filter((arg, i, all) => !(arg === "--template" || all[i - 1] === "--template"));
}
