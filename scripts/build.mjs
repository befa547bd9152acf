// Builds dist/ (tsc -p tsconfig.build.json) and leaves dist/.built, whose time tells test/global-setup.ts and
// `npm run chaos` that dist/ is newer than every source file (so they need not build it again).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
execFileSync(process.execPath, [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
  cwd: root,
  stdio: 'inherit',
});
writeFileSync(resolve(root, 'dist/.built'), `${new Date().toISOString()}\n`);
