import { describe, expect, it } from 'vitest';
import { duration } from '../../src/pages/format.js';
import { escapeHtml, html, query, raw, seg } from '../../src/pages/html.js';

describe('html template', () => {
  it('escapes every interpolation unless it is already Html', () => {
    const name = `<img src=x onerror="alert('1')">&`;
    expect(html`<b title="${name}">${name}</b>`.value).toBe(
      '<b title="&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;">&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;</b>',
    );
    expect(html`<p>${html`<i>${'<'}</i>`}</p>`.value).toBe('<p><i>&lt;</i></p>');
    expect(html`${raw('<hr>')}`.value).toBe('<hr>');
  });

  it('joins arrays and drops null, undefined and false', () => {
    expect(html`<ul>${['a', '<b>'].map((x) => html`<li>${x}</li>`)}</ul>`.value).toBe('<ul><li>a</li><li>&lt;b&gt;</li></ul>');
    expect(html`${null}${undefined}${false}${0}`.value).toBe('0');
  });

  it('keeps path segments and queries inside their part of a URL', () => {
    expect(seg('a/b?c#d')).toBe('a%2Fb%3Fc%23d');
    expect(query({ status: 'failed', q: '', x: undefined })).toBe('?status=failed');
    expect(query({ q: 'a&b=c' })).toBe('?q=a%26b%3Dc');
    expect(escapeHtml(query({ a: '1', b: '2' }))).toBe('?a=1&amp;b=2');
  });
});

describe('formatting', () => {
  it('writes durations at a readable precision', () => {
    expect([0, 999, 1500, 12_345, 185_000, 7_500_000].map(duration)).toEqual(['0 ms', '999 ms', '1.5 s', '12 s', '3 min 5 s', '2 h 5 min']);
    expect(duration(null)).toBe('—');
  });
});
