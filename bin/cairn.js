#!/usr/bin/env node
'use strict';
// The `cairn` command: runs the compiled CLI (supervisor/cli.ts -> dist/supervisor/cli.js).
const path = require('node:path');
const fs = require('node:fs');

const cli = path.join(__dirname, '..', 'dist', 'supervisor', 'cli.js');
if (!fs.existsSync(cli)) {
  process.stderr.write(`cairn: ${cli} is missing; run "npm run build" in ${path.join(__dirname, '..')} first\n`);
  process.exit(1);
}
require(cli).run();
