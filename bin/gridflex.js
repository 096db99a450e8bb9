#!/usr/bin/env node
// The gridflex command. Runs the compiled kernel from dist/ (built by `npm install` through the
// prepare script); without a build, or with GRIDFLEX_FROM_SOURCE=1 (tests), it runs the TypeScript
// sources through tsx.
import { existsSync } from 'node:fs';

const dist = new URL('../dist/core/cli/main.js', import.meta.url);
let main;
if (existsSync(dist) && !process.env.GRIDFLEX_FROM_SOURCE) {
  ({ main } = await import(dist.href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(new URL('../core/cli/main.ts', import.meta.url).href));
}
const code = await main(process.argv.slice(2));
process.exitCode = code;
// serve resolves after a graceful stop; a stray handle must not keep the process alive.
if (process.argv[2] === 'serve' || process.argv[2] === 'ven') setTimeout(() => process.exit(code), 2_000).unref();
