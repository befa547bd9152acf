import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

/**
 * Builds the CLI once before the tests (`tsc -p tsconfig.build.json` → `dist/`, the same build `npm install`
 * makes), so the many tests that run `tandem` as a real child process start compiled JavaScript instead of
 * transpiling the sources in every process. Tests read TANDEM_TEST_CLI to find it.
 */
export function setup(): void {
  const root = resolve(import.meta.dirname, '..');
  execFileSync(process.execPath, [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  process.env.TANDEM_TEST_CLI = resolve(root, 'dist/cli/run.js');
}
