// Builds the page into dist/: app.js (src/main.ts and the SDK, bundled and
// minified), index.html and style.css (copied). Run with `npm run build`.
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

const web = dirname(fileURLToPath(import.meta.url));
const dist = join(web, "dist");

/**
 * The SDK is imported from its sources (../sdk/typescript/src), whose
 * imports of @bufbuild/protobuf would otherwise resolve from the SDK's own
 * node_modules, present or not and of whatever version is installed there.
 * This pins them to the copy this package's lockfile installs.
 */
const protobufFromHere = {
  name: "protobuf-from-web",
  setup(build) {
    build.onResolve({ filter: /^@bufbuild\/protobuf(\/|$)/ }, (args) => {
      if (args.resolveDir === web || args.pluginData === "pinned") return undefined;
      return build.resolve(args.path, { kind: args.kind, resolveDir: web, pluginData: "pinned" });
    });
  },
};

await mkdir(dist, { recursive: true });
await esbuild.build({
  entryPoints: [join(web, "src", "main.ts")],
  outfile: join(dist, "app.js"),
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: "linked",
  legalComments: "none",
  plugins: [protobufFromHere],
  logLevel: "warning",
});
await copyFile(join(web, "src", "index.html"), join(dist, "index.html"));
await copyFile(join(web, "src", "style.css"), join(dist, "style.css"));
console.log(`web page built in ${dist}`);
