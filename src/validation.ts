/**
 * Messages for input that fails its zod schema, naming the field and what was expected. Used by the
 * error handler for route schemas, and by the webhook route's own body check.
 */
import type { z } from 'zod';
import { AppError, type ErrorCode } from './errors.js';

const MAX_ISSUES = 5;

/** `events[3].data.status`: the path as a reader of the JSON would write it. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out === '' ? '(body)' : out;
}

/** True when the issue is about a key the input does not have at all. */
function isMissing(input: unknown, path: readonly PropertyKey[]): boolean {
  let node: unknown = input;
  for (const key of path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return false;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  const last = path[path.length - 1];
  return last !== undefined && node !== null && typeof node === 'object' && !(last in node);
}

/** What formatting needs of an issue: zod's own, or one the route schemas' validator reported. */
export interface Issue {
  path: readonly PropertyKey[];
  message: string;
}

function formatIssue(issue: Issue, input: unknown): string {
  let message = issue.message.replace(/^Invalid input: /, '').replace(/^Invalid option: /, '');
  if (isMissing(input, issue.path)) message = `required, ${message.replace(/, received undefined$/, '')}`;
  return `${formatPath(issue.path)}: ${message}`;
}

/** One message for every problem (the first few), each naming its field; `input` tells a missing key from a bad one. */
export function formatIssues(all: readonly Issue[], input?: unknown): string {
  const issues = all.slice(0, MAX_ISSUES).map((i) => formatIssue(i, input));
  const more = all.length - MAX_ISSUES;
  return issues.join('; ') + (more > 0 ? `; and ${more} more problem(s)` : '');
}

/** Parses `value` or throws an AppError with the given code naming every bad field. */
export function parseOr<S extends z.ZodType>(schema: S, value: unknown, code: ErrorCode): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new AppError(code, formatIssues(result.error.issues, value));
  return result.data;
}
