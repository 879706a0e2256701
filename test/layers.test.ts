/**
 * The import rule of src/: a module imports only from its own layer or the layers below it, so
 * protocol types never depend on storage and storage never on HTTP.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');

/** Bottom first. A path matches the longest prefix listed. */
const layers: Record<string, number> = {
  'protocol/': 0,
  'config.ts': 0,
  'errors.ts': 0,
  'validation.ts': 0,
  'logger.ts': 0,
  'auth/': 0,
  'db/': 1,
  'net/': 1,
  'store/': 1,
  'ingest/': 2,
  'fleet/': 2,
  'metrics.ts': 2,
  'request-tally.ts': 2,
  'retention.ts': 2,
  'context.ts': 2,
  'plugins/': 3,
  'routes/': 3,
  'pages/': 3,
  'app.ts': 4,
  'server.ts': 5,
  'cli.ts': 5,
};

function layerOf(file: string): number {
  const match = Object.keys(layers)
    .filter((prefix) => file === prefix || file.startsWith(prefix))
    .sort((a, b) => b.length - a.length)[0];
  if (match === undefined) throw new Error(`src/${file} has no layer: add it to test/layers.test.ts`);
  return layers[match]!;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Relative imports of a file (static, type-only and dynamic), as paths under src/. */
function importsOf(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) => relative(SRC, resolve(dirname(path), s)).replace(/\.js$/, '.ts'));
}

describe('layering of src/', () => {
  it('has no import from a lower layer to a higher one', () => {
    const violations: string[] = [];
    for (const path of sources(SRC)) {
      const file = relative(SRC, path);
      for (const target of importsOf(path)) {
        if (layerOf(target) > layerOf(file))
          violations.push(`src/${file} (layer ${layerOf(file)}) imports src/${target} (layer ${layerOf(target)})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('knows the layer of every file', () => {
    expect(() => sources(SRC).map((p) => layerOf(relative(SRC, p)))).not.toThrow();
  });
});
