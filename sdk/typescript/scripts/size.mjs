// Bundles src/index.ts for browsers (minified, with @bufbuild/protobuf) and
// prints its size raw and gzipped: what the SDK adds to a web page.
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const result = await build({
  entryPoints: ["src/index.ts"],
  bundle: true,
  minify: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  write: false,
  metafile: true,
});
const bytes = result.outputFiles[0].contents;
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`browser bundle (esm, minified): ${kib(bytes.length)}, gzip: ${kib(gzipSync(bytes, { level: 9 }).length)}`);
const inputs = Object.entries(result.metafile.outputs[Object.keys(result.metafile.outputs)[0]].inputs)
  .map(([path, { bytesInOutput }]) => [path.replace(/^node_modules\//, ""), bytesInOutput])
  .reduce((groups, [path, size]) => {
    const group = path.startsWith("@bufbuild/protobuf") ? "@bufbuild/protobuf" : path.startsWith("src/gen") ? "src/gen (protocol)" : "src (SDK)";
    groups[group] = (groups[group] ?? 0) + size;
    return groups;
  }, {});
for (const [group, size] of Object.entries(inputs)) console.log(`  ${group}: ${kib(size)} minified`);
