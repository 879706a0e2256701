/**
 * Builds what the sources under test load from dist/ before any test file runs: the pages'
 * browser code (the server reads the compiled script and stylesheet from dist/browser/, see
 * src/pages/assets.ts), and the WAL checkpointer's thread (a worker thread cannot load
 * TypeScript, see src/db/checkpointer.ts). Built afresh each time, so an edited script is never
 * tested in its stale form.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

export default function setup(): void {
  execFileSync('npm', ['run', '--silent', 'build:browser'], { cwd: ROOT, stdio: 'inherit' });
  // The same file `npm run build` compiles with tsc; esbuild does one file in milliseconds.
  execFileSync(
    join(ROOT, 'node_modules', '.bin', 'esbuild'),
    [
      'src/db/checkpoint-worker.ts',
      '--bundle',
      '--packages=external',
      '--platform=node',
      '--format=esm',
      '--target=node20',
      '--log-level=warning',
      '--outfile=dist/src/db/checkpoint-worker.js',
    ],
    { cwd: ROOT, stdio: 'inherit' },
  );
}
