/** Error pages (404, 401, 400, 5xx) for people: what happened and where to go from here. */
import { html, type Html } from './html.js';
import { layout } from './layout.js';

const titles: Record<number, string> = {
  400: 'Bad request',
  401: 'Read token needed',
  404: 'Not found',
  503: 'Temporarily unavailable',
};

/** `message` may name what was asked for; it is escaped like any other text. */
export function errorPage(statusCode: number, message: string): Html {
  const title = titles[statusCode] ?? (statusCode >= 500 ? 'Something went wrong' : 'Error');
  const hint =
    statusCode === 401
      ? html`<p>This receiver has a read token. Open the page once with <code>?token=</code> followed by the token
(the address bar is cleaned and a cookie remembers it), or send <code>Authorization: Bearer &lt;token&gt;</code>.</p>`
      : statusCode >= 500
        ? html`<p>The receiver log has the details. Try again in a moment.</p>`
        : html``;
  const body = html`<section class="error">
<h1>${title}</h1>
<p>${message}</p>
${hint}
<p><a href="/">Back to the fleet</a></p>
</section>`;
  return layout({ title, body });
}
