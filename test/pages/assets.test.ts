/** src/pages/assets.ts: the built browser code, held in memory under content-hashed addresses. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assets, assetUrl } from '../../src/pages/assets.js';

const BROWSER = join(import.meta.dirname, '..', '..', 'src', 'pages', 'browser');

describe('page assets', () => {
  it('serves the stylesheet as written', () => {
    expect(assets['app.css']!.body).toBe(readFileSync(join(BROWSER, 'style.css'), 'utf8'));
    expect(assets['app.css']!.type).toBe('text/css; charset=utf-8');
  });

  it('serves live.ts bundled into a classic script, with no source map to fetch', () => {
    const js = assets['app.js']!.body;
    expect(assets['app.js']!.type).toBe('text/javascript; charset=utf-8');
    expect(js.startsWith('"use strict";\n')).toBe(true);
    expect(js).toMatch(/new EventSource\(["']\/events["']\)/);
    // The server's relative-time wording, bundled in rather than written twice.
    expect(js).toContain('min ago');
    // The page loads it with a plain <script src>: a module statement or a type would break it.
    expect(js).not.toMatch(/^\s*(import|export)\b/m);
    expect(js).not.toMatch(/: (string|number|boolean|void)\b/);
    expect(js).not.toContain('sourceMappingURL');
  });

  it('links each by a hash of its content', () => {
    for (const name of ['app.css', 'app.js', 'icon.svg'] as const) {
      expect(assetUrl(name)).toMatch(new RegExp(`^/ui/assets/${name.replace('.', '\\.')}\\?v=[0-9a-f]{12}$`));
    }
    expect(assets['app.css']!.hash).not.toBe(assets['app.js']!.hash);
  });
});
