/**
 * `@tidings/client/node`: what only Node can run, kept out of the main entry
 * so browser bundles never see `node:fs`.
 *
 * @packageDocumentation
 */

export { FileStore } from "./stores/file.js";
