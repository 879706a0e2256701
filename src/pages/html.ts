/**
 * HTML building for the status pages. Interpolations in an `html` template are escaped unless
 * they are already Html, so user-controlled text (host names, task names, messages) can only
 * ever be text: escaping is the default and `raw` is the visible exception.
 */

/** A piece of markup known to be safe: built by `html` or marked with `raw`. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Part = Html | string | number | boolean | null | undefined | readonly Part[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for element content and quoted attribute values alike. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function render(part: Part): string {
  if (part instanceof Html) return part.value;
  if (part === null || part === undefined || part === false) return '';
  if (Array.isArray(part)) return (part as readonly Part[]).map(render).join('');
  return escapeHtml(String(part));
}

/** Tagged template: literal parts are trusted markup, every `${}` is escaped (or nested Html). */
export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** Marks a string as markup; only for strings this code wrote, never for received data. */
export function raw(markup: string): Html {
  return new Html(markup);
}

/** A URL path segment from any identity: encoded, so `/`, `?` or `#` in it stay inside it. */
export function seg(value: string | number): string {
  return encodeURIComponent(String(value));
}

/** Query string from defined, non-empty values; the result is still escaped where interpolated. */
export function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}
