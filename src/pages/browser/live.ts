/**
 * The status pages' only script, served as /ui/assets/app.js (see ../assets.ts). Every page works
 * without it; with it, pages follow server-sent change events and the fleet filter applies as
 * you type. It swaps in server-rendered (already escaped) markup, so it builds no HTML itself.
 *
 * Bundled into a classic script (an IIFE) at build time: the page loads it with a plain <script src>.
 */
import { ago as agoAt } from '../relative-time.js';

(() => {
  document.documentElement.classList.add('js');
  const body = document.body;
  const kind = body.getAttribute('data-live');
  const hostId = Number(body.getAttribute('data-host-id'));
  const stateEl = document.getElementById('live-state');
  function setState(text: string): void {
    if (stateEl) stateEl.textContent = text;
  }

  // The server's own wording (relative-time.ts), kept current as time passes.
  const ago = (iso: string): string => agoAt(iso, Date.now());
  function refreshTimes(): void {
    for (const el of document.querySelectorAll('time[data-ago]')) el.textContent = ago(el.getAttribute('datetime') ?? '');
  }
  setInterval(refreshTimes, 30000);

  /** The id of the task row a toggle sits in. */
  function rowId(details: Element): string | undefined {
    return details.closest('tr')?.id;
  }

  // Replaces #live with the same element of a freshly fetched page, keeping keyboard focus
  // and the open/closed state of task messages the reader toggled.
  function swap(text: string): void {
    const fetched = new DOMParser().parseFromString(text, 'text/html').getElementById('live');
    const cur = document.getElementById('live');
    if (!fetched || !cur) return;
    const focused = document.activeElement;
    const href = focused && cur.contains(focused) ? focused.getAttribute('href') : null;
    const open = new Map<string, boolean>();
    for (const d of cur.querySelectorAll<HTMLDetailsElement>('tr[id] details')) {
      const id = rowId(d);
      if (id !== undefined) open.set(id, d.open);
    }
    const next = document.adoptNode(fetched);
    for (const d of next.querySelectorAll<HTMLDetailsElement>('tr[id] details')) {
      const was = open.get(rowId(d) ?? '');
      if (was !== undefined) d.open = was;
    }
    cur.replaceWith(next);
    if (href) {
      for (const link of next.querySelectorAll<HTMLAnchorElement>('a[href]')) {
        if (link.getAttribute('href') === href) {
          link.focus();
          break;
        }
      }
    }
    refreshTimes();
  }

  let busy = false;
  let again = false;
  let dirty = false;
  function refresh(): void {
    if (document.hidden) {
      dirty = true;
      return;
    }
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    const url = location.pathname + location.search;
    fetch(url, { headers: { accept: 'text/html' }, credentials: 'same-origin', cache: 'no-store' })
      .then((res) => {
        if (res.status === 401) {
          setState('read token needed: reload the page');
          return null;
        }
        if (res.status === 404) {
          setState('no longer known to the receiver');
          return null;
        }
        return res.ok ? res.text() : null;
      })
      .then((text) => {
        // A filter typed meanwhile makes this answer outdated; the queued refresh fetches the new one.
        if (text !== null && url === location.pathname + location.search) swap(text);
      })
      .catch(() => setState('offline: retrying'))
      .then(() => {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && dirty) {
      dirty = false;
      refresh();
    }
  });

  /** The host ids a change event names; an unreadable one is taken to name this host. */
  function changedHosts(data: string): number[] {
    try {
      const hosts = (JSON.parse(data) as { hosts?: unknown }).hosts;
      return Array.isArray(hosts) ? hosts.filter((h): h is number => typeof h === 'number') : [];
    } catch {
      return [hostId];
    }
  }

  // EventSource retries by itself after a dropped connection; after a refused one (503 while
  // the receiver restarts) it gives up, so a new one is opened later. Missed changes are
  // caught up by refreshing whenever a connection opens again.
  let everOpened = false;
  function connect(): void {
    const es = new EventSource('/events');
    es.addEventListener('open', () => {
      setState('live');
      if (everOpened) refresh();
      everOpened = true;
    });
    es.addEventListener('changed', (e) => {
      if (kind === 'host' && !changedHosts(e.data).includes(hostId)) return;
      refresh();
    });
    es.addEventListener('error', () => {
      setState('reconnecting…');
      if (es.readyState === EventSource.CLOSED) setTimeout(connect, 10000);
    });
  }
  if (kind && 'EventSource' in window) connect();

  const form = document.getElementById('filters');
  if (form instanceof HTMLFormElement) {
    const filters = form;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const apply = (): void => {
      const params = new URLSearchParams();
      new FormData(filters).forEach((v, k) => {
        if (v) params.set(k, String(v));
      });
      const qs = params.toString();
      history.replaceState(null, '', qs ? `/?${qs}` : '/');
      refresh();
    };
    filters.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(apply, 150);
    });
    filters.addEventListener('submit', (e) => {
      e.preventDefault();
      clearTimeout(timer);
      apply();
    });
    // The status chips are links for the no-script case; with the script they set the filter in place.
    document.addEventListener('click', (e) => {
      const a = e.target instanceof Element ? e.target.closest<HTMLAnchorElement>('a.count') : null;
      if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      const status = filters.elements.namedItem('status');
      if (status instanceof HTMLSelectElement || status instanceof HTMLInputElement) {
        status.value = new URL(a.href).searchParams.get('status') ?? '';
      }
      apply();
    });
  }
})();
