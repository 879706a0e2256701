// Waits until the receiver answers 200 on /readyz, for ExecStartPost= and deploy.sh.
// Plain JavaScript on purpose: it runs from the installed tree without a build step and
// needs nothing but node itself (global fetch, Node >= 18).
//
// Usage: node wait-ready.mjs [--timeout SECONDS] [--url URL]
// Without --url the address comes from WEBHOOK_HOST and WEBHOOK_PORT, the same variables
// the service reads (systemd hands ExecStartPost= the service's environment).
// Exit 0 when ready; 1 on timeout or when the service's main process is gone.

import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    timeout: { type: 'string', default: '30' },
    url: { type: 'string' },
  },
});

const timeoutMs = Number(values.timeout) * 1000;
if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
  console.error(`wait-ready: --timeout must be a positive number of seconds, got ${values.timeout}`);
  process.exit(2);
}

/** The loopback address that reaches a server bound to `host`. */
function probeHost(host) {
  if (host === '' || host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  if (host.includes(':') && !host.startsWith('[')) return `[${host}]`;
  return host;
}

const url = values.url ?? `http://${probeHost(process.env.WEBHOOK_HOST ?? '0.0.0.0')}:${process.env.WEBHOOK_PORT || '9191'}/readyz`;

// systemd sets MAINPID for ExecStartPost=; if node died during start-up there is no point
// waiting out the whole timeout.
const mainPid = Number(process.env.MAINPID);

function mainProcessGone() {
  if (!Number.isInteger(mainPid) || mainPid <= 0) return false;
  try {
    process.kill(mainPid, 0);
    return false;
  } catch (err) {
    return err.code === 'ESRCH';
  }
}

const deadline = Date.now() + timeoutMs;
let last = 'no answer yet';
for (;;) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    if (res.status === 200) {
      console.error(`wait-ready: ${url} answered 200`);
      process.exit(0);
    }
    last = `status ${res.status}`;
  } catch (err) {
    last = err.cause?.code ?? err.name ?? String(err);
  }
  if (mainProcessGone()) {
    console.error(`wait-ready: main process ${mainPid} exited before ${url} was ready`);
    process.exit(1);
  }
  if (Date.now() >= deadline) {
    console.error(`wait-ready: ${url} not ready after ${values.timeout} s (${last})`);
    process.exit(1);
  }
  await new Promise((resolve) => setTimeout(resolve, 250));
}
