/** GET /openapi.json describes every route, is a valid OpenAPI document, and needs the read token. */
import { Validator } from '@seriousme/openapi-schema-validator';
import type { RouteOptions } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { testConfig, type Config } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function appWithRoutes(overrides: Partial<Config> = {}) {
  const db = openDatabase(':memory:');
  migrate(db);
  const routes: RouteOptions[] = [];
  const app = await buildApp(testConfig({ dbPath: ':memory:', ...overrides }), { db, onRoute: (r) => routes.push(r) });
  await app.ready();
  closers.push(async () => {
    await app.close();
    db.close();
  });
  return { app, routes };
}

/** Fastify writes /hosts/:host; OpenAPI writes /hosts/{host}. */
const openapiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI document listing every route with its method', async () => {
    const { app, routes } = await appWithRoutes();
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    const result = await new Validator().validate(doc as never);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(doc.openapi).toMatch(/^3\./);

    // HEAD routes are Fastify's automatic mirrors of the GET routes.
    const registered = routes.flatMap((r) =>
      [r.method]
        .flat()
        .filter((m) => m !== 'HEAD')
        .map((m) => `${m.toLowerCase()} ${openapiPath(r.url)}`),
    );
    const described = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    expect(registered.length).toBeGreaterThan(15);
    expect(described.sort()).toEqual([...new Set(registered)].sort());
  });

  it('describes the query parameters, bodies and answers from the zod schemas', async () => {
    const { app } = await appWithRoutes();
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const runs = doc.paths['/runs'].get;
    expect(runs.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`)).toEqual(
      expect.arrayContaining(['query:host', 'query:status', 'query:since', 'query:until', 'query:limit', 'query:cursor']),
    );
    expect(runs.responses['200'].content['application/json'].schema.properties).toHaveProperty('next_cursor');
    expect(doc.paths['/webhook'].post.requestBody.content['application/json'].schema).toHaveProperty('anyOf');
    expect(doc.paths['/hosts/{host}/wait'].get.responses).toHaveProperty('202');
  });

  it('needs the read token when one is set', async () => {
    const token = 'read-token-0123456789abcdef';
    const { app } = await appWithRoutes({ readToken: token });
    expect((await app.inject({ method: 'GET', url: '/openapi.json' })).statusCode).toBe(401);
    const ok = await app.inject({ method: 'GET', url: '/openapi.json', headers: { authorization: `Bearer ${token}` } });
    expect(ok.statusCode).toBe(200);
  });
});
