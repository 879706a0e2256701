/** Finding external tools: missing ones fail the test under CI=true and skip locally with a reason. */
import { execFileSync } from 'node:child_process';

export function hasTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Returns true when the test may run; throws under CI when the tool is missing. */
export function requireTool(name: string): boolean {
  if (hasTool(name)) return true;
  if (process.env.CI === 'true') throw new Error(`${name} is required in CI but is not installed (see .ci/run)`);
  console.warn(`skipping: ${name} is not installed`);
  return false;
}
