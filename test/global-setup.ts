/**
 * Builds what the sources under test load from dist/ before any test file runs: the pages'
 * browser code (the server reads the compiled script and stylesheet from dist/browser/, see
 * src/pages/assets.ts), the WAL checkpointer's thread (a worker thread cannot load
 * TypeScript, see src/db/checkpointer.ts) and the acceptors' helper process
 * (src/net/acceptors.ts). Built afresh each time, so an edited script is never tested in its
 * stale form.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

export default function setup(): void {
  execFileSync('npm', ['run', '--silent', 'build:browser'], { cwd: ROOT, stdio: 'inherit' });
  // The same files `npm run build` compiles with tsc; esbuild does one file in milliseconds.
  for (const script of ['db/checkpoint-worker', 'net/acceptor-echo']) {
    execFileSync(
      join(ROOT, 'node_modules', '.bin', 'esbuild'),
      [
        `src/${script}.ts`,
        '--bundle',
        '--packages=external',
        '--platform=node',
        '--format=esm',
        '--target=node20',
        '--log-level=warning',
        `--outfile=dist/src/${script}.js`,
      ],
      { cwd: ROOT, stdio: 'inherit' },
    );
  }
}
