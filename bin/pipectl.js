#!/usr/bin/env node
'use strict';
// Runs the compiled CLI; from a fresh checkout without `npm run build`, runs the TypeScript sources through tsx.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const compiled = join(__dirname, '..', 'dist', 'cli', 'index.js');
process.env.PIPECTL_CLI_MAIN = '1';
if (existsSync(compiled)) {
  require(compiled);
} else {
  require('tsx/cjs');
  require(join(__dirname, '..', 'cli', 'index.ts'));
}
