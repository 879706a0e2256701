/** The node flags the service runs with, as package.json's start script sets them: the unit and the image must run the same. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const start = (JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { scripts: { start: string } })
  .scripts.start;
const flags = /^node ((?:--[\w-]+=\S+ ?)+) ?dist\/src\/server\.js$/.exec(start)?.[1]?.trim();
if (flags === undefined) throw new Error(`package.json's start script is not "node <flags> dist/src/server.js": ${start}`);
export const NODE_FLAGS: string = flags;
