/**
 * Documentation is executable: every ```json block in docs/ is posted to the receiver and must be
 * accepted; ```json rejected blocks must be refused with a 4xx; ```json response blocks must be
 * valid JSON in the documented answer shapes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, type TestApp } from './helper.js';
import {
  deliveryAnswerSchema,
  errorBodySchema,
  fleetSchema,
  hostDetailSchema,
  runDetailSchema,
  runsPageSchema,
  waitAnswerSchema,
} from '../src/protocol/api.js';
import { fleetAnswerSchema, fleetWaitAnswerSchema } from '../src/protocol/fleet.js';
import { changesPageSchema, runDiffSchema, tasksAnswerSchema } from '../src/protocol/history.js';

const ADMIN_TOKEN = 'docs-admin-token-0123456789';

interface Block {
  file: string;
  line: number;
  mode: 'accepted' | 'rejected' | 'response';
  method: 'POST' | 'PUT';
  target: string;
  text: string;
}

const docsDir = join(import.meta.dirname, '..', 'docs');

/** Info string: `json`, `json rejected`, `json response`, optionally `POST /path` or `PUT /path` to send it elsewhere. */
function blocks(): Block[] {
  const out: Block[] = [];
  for (const file of readdirSync(docsDir).filter((f) => f.endsWith('.md'))) {
    const lines = readFileSync(join(docsDir, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const m = /^```json\b(.*)$/.exec(lines[i]!);
      if (!m) continue;
      const info = m[1]!.trim();
      const end = lines.indexOf('```', i + 1);
      const mode = info.includes('rejected') ? 'rejected' : info.includes('response') ? 'response' : 'accepted';
      const to = /(POST|PUT) (\S+)/.exec(info);
      const method = to?.[1] === 'PUT' ? 'PUT' : 'POST';
      out.push({ file, line: i + 1, mode, method, target: to?.[2] ?? '/webhook', text: lines.slice(i + 1, end).join('\n') });
      i = end;
    }
  }
  return out;
}

let t: TestApp;
beforeAll(async () => {
  t = await makeApp({ adminToken: ADMIN_TOKEN });
});
afterAll(async () => t.close());

const all = blocks();

describe('docs examples', () => {
  it('exist', () => {
    expect(all.filter((b) => b.mode === 'accepted').length).toBeGreaterThanOrEqual(4);
    expect(all.filter((b) => b.mode === 'rejected').length).toBeGreaterThanOrEqual(2);
  });

  for (const b of all) {
    it(`${b.file}:${b.line} is ${b.mode}`, async () => {
      const parsed: unknown = JSON.parse(b.text);
      if (b.mode === 'response') {
        const shapes = [
          deliveryAnswerSchema,
          errorBodySchema,
          hostDetailSchema,
          runDetailSchema,
          waitAnswerSchema,
          fleetSchema,
          runsPageSchema,
          fleetAnswerSchema,
          fleetWaitAnswerSchema,
          changesPageSchema,
          runDiffSchema,
          tasksAnswerSchema,
        ];
        expect(
          shapes.some((s) => s.safeParse(parsed).success),
          'matches no documented answer shape',
        ).toBe(true);
        return;
      }
      const auth = b.method === 'PUT' ? { authorization: `Bearer ${ADMIN_TOKEN}` } : {};
      const res = await t.app.inject({
        method: b.method,
        url: b.target,
        headers: { 'content-type': 'application/json', ...auth },
        payload: b.text,
      });
      if (b.mode === 'accepted') expect(res.statusCode, res.body).toBe(200);
      else {
        expect(res.statusCode).toBeGreaterThanOrEqual(400);
        expect(res.statusCode).toBeLessThan(500);
      }
    });
  }
});
