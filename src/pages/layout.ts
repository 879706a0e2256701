/** The document around every page: head, header navigation, main landmark, footer. */
import { assetUrl } from './assets.js';
import { html, type Html } from './html.js';

export interface LayoutOptions {
  title: string;
  /** Page content; the part that live updates replace is the element with id="live". */
  body: Html;
  /**
   * What the page script refreshes on a change event: `fleet` on any change, `host` only when
   * a change names `hostId`. Pages without it (errors) never refresh.
   */
  live?: { kind: 'fleet' | 'host'; hostId?: number };
  /** JSON API address of what the page shows, linked in the header. */
  api?: string;
}

/** Renders a complete HTML document. */
export function layout({ title, body, live, api }: LayoutOptions): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<title>${title} · webhook status</title>
<link rel="icon" href="${assetUrl('icon.svg')}" type="image/svg+xml">
<link rel="stylesheet" href="${assetUrl('app.css')}">
<script src="${assetUrl('app.js')}" defer></script>
</head>
<body${live ? html` data-live="${live.kind}"${live.hostId !== undefined ? html` data-host-id="${live.hostId}"` : ''}` : ''}>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<nav aria-label="Site">
<a href="/" class="brand">Fleet status</a>
<a href="/ui/changes">Changes</a>
${api ? html`<a href="${api}" class="api">JSON</a>` : ''}
<span class="live-state" id="live-state" role="status" aria-live="polite"></span>
</nav>
</header>
<main id="main" tabindex="-1">
${body}
</main>
<footer><a href="/metrics">metrics</a> · <a href="/hosts">hosts JSON</a> · <a href="/runs">runs JSON</a> · <a href="/tasks">tasks JSON</a></footer>
</body>
</html>
`;
}
