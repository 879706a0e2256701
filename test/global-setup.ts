/**
 * Builds the pages' browser code before any test file runs: tests run the server's sources,
 * which read the compiled script and stylesheet from dist/browser/ (see src/pages/assets.ts).
 * Built afresh each time, so an edited script is never tested in its stale form.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export default function setup(): void {
  execFileSync('npm', ['run', '--silent', 'build:browser'], { cwd: join(import.meta.dirname, '..'), stdio: 'inherit' });
}
