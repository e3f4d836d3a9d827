#!/usr/bin/env node
'use strict';
// Runs the compiled CLI; from a checkout without `npm run build`, runs the TypeScript sources through tsx.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const compiled = join(__dirname, '..', 'dist', 'cli', 'index.js');
process.env.PIPECTL_CLI_MAIN = '1';
if (existsSync(compiled)) {
  require(compiled);
} else {
  const { spawn } = require('node:child_process');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(__dirname, '..', 'cli', 'index.ts'), ...process.argv.slice(2)],
    {
      stdio: 'inherit',
    },
  );
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
}
