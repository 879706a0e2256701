/**
 * The status pages' only script, served as /ui/assets/app.js (see assets.ts). Every page works
 * without it; with it, pages follow server-sent change events and the fleet filter applies as
 * you type. It swaps in server-rendered (already escaped) markup, so it builds no HTML itself.
 */
export const js = String.raw`
(function () {
  'use strict';
  document.documentElement.classList.add('js');
  var body = document.body;
  var kind = body.getAttribute('data-live');
  var hostId = Number(body.getAttribute('data-host-id'));
  var stateEl = document.getElementById('live-state');
  function setState(text) { if (stateEl) stateEl.textContent = text; }

  // Same wording as the server's format.ts ago().
  function ago(iso) {
    var s = Math.round((Date.now() - Date.parse(iso)) / 1000);
    if (s < 0) return 'in the future';
    if (s < 45) return 'just now';
    if (s < 3600) return Math.max(1, Math.round(s / 60)) + ' min ago';
    if (s < 86400) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' d ago';
  }
  function refreshTimes() {
    var els = document.querySelectorAll('time[data-ago]');
    for (var i = 0; i < els.length; i++) els[i].textContent = ago(els[i].getAttribute('datetime'));
  }
  setInterval(refreshTimes, 30000);

  // Replaces #live with the same element of a freshly fetched page, keeping keyboard focus
  // and the open/closed state of task messages the reader toggled.
  function swap(text) {
    var next = new DOMParser().parseFromString(text, 'text/html').getElementById('live');
    var cur = document.getElementById('live');
    if (!next || !cur) return;
    var focused = document.activeElement;
    var href = focused && cur.contains(focused) ? focused.getAttribute('href') : null;
    var open = {};
    var details = cur.querySelectorAll('tr[id] details');
    for (var i = 0; i < details.length; i++) open[details[i].closest('tr').id] = details[i].open;
    next = document.adoptNode(next);
    var nextDetails = next.querySelectorAll('tr[id] details');
    for (var j = 0; j < nextDetails.length; j++) {
      var id = nextDetails[j].closest('tr').id;
      if (id in open) nextDetails[j].open = open[id];
    }
    cur.replaceWith(next);
    if (href) {
      var links = next.querySelectorAll('a[href]');
      for (var k = 0; k < links.length; k++) if (links[k].getAttribute('href') === href) { links[k].focus(); break; }
    }
    refreshTimes();
  }

  var busy = false, again = false, dirty = false;
  function refresh() {
    if (document.hidden) { dirty = true; return; }
    if (busy) { again = true; return; }
    busy = true;
    var url = location.pathname + location.search;
    fetch(url, { headers: { accept: 'text/html' }, credentials: 'same-origin', cache: 'no-store' })
      .then(function (res) {
        if (res.status === 401) { setState('read token needed: reload the page'); return null; }
        if (res.status === 404) { setState('no longer known to the receiver'); return null; }
        return res.ok ? res.text() : null;
      })
      .then(function (text) {
        // A filter typed meanwhile makes this answer outdated; the queued refresh fetches the new one.
        if (text !== null && url === location.pathname + location.search) swap(text);
      })
      .catch(function () { setState('offline: retrying'); })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && dirty) { dirty = false; refresh(); }
  });

  // EventSource retries by itself after a dropped connection; after a refused one (503 while
  // the receiver restarts) it gives up, so a new one is opened later. Missed changes are
  // caught up by refreshing whenever a connection opens again.
  var everOpened = false;
  function connect() {
    var es = new EventSource('/events');
    es.addEventListener('open', function () {
      setState('live');
      if (everOpened) refresh();
      everOpened = true;
    });
    es.addEventListener('changed', function (e) {
      if (kind === 'host') {
        var ids = [];
        try { ids = JSON.parse(e.data).hosts || []; } catch (err) { ids = [hostId]; }
        if (ids.indexOf(hostId) < 0) return;
      }
      refresh();
    });
    es.addEventListener('error', function () {
      setState('reconnecting…');
      if (es.readyState === EventSource.CLOSED) setTimeout(connect, 10000);
    });
  }
  if (kind && window.EventSource) connect();

  var form = document.getElementById('filters');
  if (form) {
    var timer = null;
    var apply = function () {
      var params = new URLSearchParams();
      var data = new FormData(form);
      data.forEach(function (v, k) { if (v) params.set(k, String(v)); });
      var qs = params.toString();
      history.replaceState(null, '', qs ? '/?' + qs : '/');
      refresh();
    };
    form.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(apply, 150); });
    form.addEventListener('submit', function (e) { e.preventDefault(); clearTimeout(timer); apply(); });
    // The status chips are links for the no-script case; with the script they set the filter in place.
    document.addEventListener('click', function (e) {
      var a = e.target.closest && e.target.closest('a.count');
      if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      form.elements.namedItem('status').value = new URL(a.href).searchParams.get('status') || '';
      apply();
    });
  }
})();
`;
