/**
 * Static assets of the status pages, read into memory once at start, so each answer is a
 * string already held. Each URL carries a content hash, so browsers may cache it for good.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// `npm run build` compiles browser/live.ts and copies browser/style.css into dist/browser/,
// found from src/pages (tests run the sources) or dist/src/pages (the built service).
const BROWSER_DIR = ['../../dist/browser/', '../../browser/']
  .map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
  .find((dir) => existsSync(join(dir, 'live.js')) && existsSync(join(dir, 'style.css')));

function built(file: string): string {
  if (BROWSER_DIR === undefined) throw new Error(`the pages' ${file} is not built: run npm run build`);
  return readFileSync(join(BROWSER_DIR, file), 'utf8');
}

export interface Asset {
  type: string;
  body: string;
  hash: string;
}

function asset(type: string, body: string): Asset {
  return { type, body, hash: createHash('sha256').update(body).digest('hex').slice(0, 12) };
}

// A plain status dot, so browsers find an icon instead of asking for /favicon.ico.
const icon = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#1a7f37"/></svg>';

export const assets: Readonly<Record<string, Asset>> = {
  'app.css': asset('text/css; charset=utf-8', built('style.css')),
  'app.js': asset('text/javascript; charset=utf-8', built('live.js')),
  'icon.svg': asset('image/svg+xml', icon),
};

/** The versioned address of an asset, for links in pages. */
export function assetUrl(name: 'app.css' | 'app.js' | 'icon.svg'): string {
  return `/ui/assets/${name}?v=${assets[name]!.hash}`;
}
