/**
 * Static assets of the status pages, kept as strings in the code so the built service needs no
 * extra files. Each URL carries a content hash, so browsers may cache it for good.
 */
import { createHash } from 'node:crypto';
import { js } from './script.js';
import { css } from './style.js';

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
  'app.css': asset('text/css; charset=utf-8', css),
  'app.js': asset('text/javascript; charset=utf-8', js),
  'icon.svg': asset('image/svg+xml', icon),
};

/** The versioned address of an asset, for links in pages. */
export function assetUrl(name: 'app.css' | 'app.js' | 'icon.svg'): string {
  return `/ui/assets/${name}?v=${assets[name]!.hash}`;
}
