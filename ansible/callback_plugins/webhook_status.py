# -*- coding: utf-8 -*-
# Reports ansible-pull runs to the webhook status receiver (event protocol v1, docs/protocol.md).
#
# One file on purpose: a callback plugin is dropped into callback_plugins/ as a single file, and
# the same file doubles as the `flush` and `checkin` commands, so a VM needs nothing but this file
# and python3.
from __future__ import annotations

DOCUMENTATION = r'''
name: webhook_status
type: notification
short_description: send run, task and recap events to the webhook status receiver
description:
  - Sends C(run_started), one C(task_result) per task and target, and C(run_finished) with the
    recap to C(<url>/webhook), as event protocol v1 of the webhook status receiver.
  - Events are queued and posted in batches by a background thread, so a slow or absent receiver
    never slows the play. At the end of the run the plugin waits at most C(flush_timeout) seconds
    for the queue to drain, then writes what is left to C(spool_dir), one JSON file per batch.
  - Many VMs run ansible-pull only once, at first boot, so the spool cannot wait for a next run.
    The plugin therefore starts a detached C(flush) process (this file run as a script, in its
    own session) that keeps retrying the spool with capped exponential backoff for C(retry_for)
    seconds after a batch was spooled, then exits. A lock file in the spool directory lets only
    one process send the spool at a time. The next run also sends the spool before its own events.
  - To send the spool by hand, run
    C(python3 webhook_status.py flush --spool-dir DIR --url URL --retry-for SECONDS); it signs with the secret in C(WEBHOOK_SECRET) or C(--secret-file).
  - C(python3 webhook_status.py checkin --result ran --exit-code 0 --duration-ms N ...) reports one
    ansible-pull invocation, whether a playbook ran or not (the C(checkin) event); the
    C(ansible-pull-webhook) wrapper of the cloud-init template calls it after every run. It reads the
    same environment as the plugin, spools the event, leaves its delivery to a detached sender and
    always exits 0 at once. The wrapper sets C(WEBHOOK_RUN_ID), a UUID, which the plugin then uses as
    the run id, so the check-in and the run it started share one run id.
  - A systemd unit that runs ansible-pull must set C(KillMode=process). With the default
    C(KillMode=control-group), systemd kills every process left in the unit's cgroup when its main
    process ends, the detached sender included, and spooled batches wait for the next run (which
    may never come). cloud-init's own final stage, C(cloud-final.service), which runs user scripts
    and C(runcmd) commands, already has C(KillMode=process).
  - While a play runs, the sender gathers events for 2 s (or 100 events) before each request. A
    receiver with a large fleet reporting at once may ask for longer, with the C(linger_ms) of its
    answer (docs/protocol.md, pacing), the least time the sender gathers before its next request,
    up to 5 minutes. The end of the run never waits for it.
  - A 2xx answer means stored (or already stored), the batch is done. 408, 429, 5xx and network
    errors are retried, honouring C(Retry-After). So is a 401 whose C(code) is
    C(TIMESTAMP_OUT_OF_WINDOW), the receiver's way of saying that this VM's clock is more than 5
    minutes off, common at first boot before time sync. Every attempt is signed anew with the
    current time, so delivery succeeds once the clock is right; a warning says so once, with the
    offset the receiver's C(Date) header shows. Any other 4xx (C(BAD_SIGNATURE) for a wrong
    secret, for one) is a permanent refusal; the batch is kept in C(rejected/) under the spool
    directory and a warning is shown.
  - Proxies named in the usual environment variables are used; put the receiver in C(no_proxy)
    to reach it directly.
  - An interrupted run (no recap) spools what it has and ends with a C(run_finished) of result
    C(failed) and empty stats, so the run does not look stale.
  - Failures of the plugin itself are shown as warnings and never fail the play.
requirements:
  - ansible-core 2.14 or later, Python 3.9 or later (standard library only)
options:
  url:
    description: Base URL of the receiver, e.g. C(http://10.1.0.102:9191); events go to C(<url>/webhook). Without it the plugin does nothing.
    type: str
    env: [{name: WEBHOOK_URL}]
    ini: [{section: callback_webhook_status, key: url}]
  secret:
    description: Signing secret C(whsec_<base64>) shared with the receiver (Standard Webhooks signatures). Unset means unsigned requests.
    type: str
    env: [{name: WEBHOOK_SECRET}]
    ini: [{section: callback_webhook_status, key: secret}]
  secret_file:
    description: File holding the signing secret; used when C(secret) is not set.
    type: path
    env: [{name: WEBHOOK_SECRET_FILE}]
    ini: [{section: callback_webhook_status, key: secret_file}]
  timeout:
    description: Timeout of one HTTP request, in seconds.
    type: float
    default: 5
    env: [{name: WEBHOOK_TIMEOUT}]
    ini: [{section: callback_webhook_status, key: timeout}]
  flush_timeout:
    description: Most seconds the end of the run waits for queued events to be sent before spooling them.
    type: float
    default: 3
    env: [{name: WEBHOOK_FLUSH_TIMEOUT}]
    ini: [{section: callback_webhook_status, key: flush_timeout}]
  spool_dir:
    description: Directory for batches not yet delivered. When it is not writable, C(~/.cache/webhook-status) is used.
    type: path
    default: /var/spool/webhook-status
    env: [{name: WEBHOOK_SPOOL_DIR}]
    ini: [{section: callback_webhook_status, key: spool_dir}]
  message_max:
    description: Longest task message sent, in characters (the receiver accepts at most 8192).
    type: int
    default: 1024
    env: [{name: WEBHOOK_MESSAGE_MAX}]
    ini: [{section: callback_webhook_status, key: message_max}]
  vmid:
    description: Proxmox VMID of this VM, sent as part of its identity.
    type: int
    env: [{name: WEBHOOK_VMID}]
    ini: [{section: callback_webhook_status, key: vmid}]
  batch_size:
    description: Most events in one request (the receiver accepts at most 1000).
    type: int
    default: 100
    env: [{name: WEBHOOK_BATCH_SIZE}]
    ini: [{section: callback_webhook_status, key: batch_size}]
  keep_alive:
    description:
      - Send every request of the run over one kept-alive connection instead of a new connection
        per request; the detached sender reads C(WEBHOOK_KEEP_ALIVE) too. Through a proxy from the
        environment each request has its own connection whatever this says.
    type: bool
    default: true
    env: [{name: WEBHOOK_KEEP_ALIVE}]
    ini: [{section: callback_webhook_status, key: keep_alive}]
  retry_for:
    description: Seconds the detached sender keeps retrying a spooled batch. 0 starts no detached sender.
    type: int
    default: 3600
    env: [{name: WEBHOOK_RETRY_FOR}]
    ini: [{section: callback_webhook_status, key: retry_for}]
'''

import argparse
import atexit
import base64
import datetime
import email.utils
import fcntl
import functools
import hashlib
import hmac
import http.client
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

if __name__ == '__main__':  # the flush and checkin commands need no ansible: half a second saved
    CallbackBase = object
    ANSIBLE_VERSION = None
else:
    try:
        from ansible import context
        from ansible.plugins.callback import CallbackBase
        from ansible.release import __version__ as ANSIBLE_VERSION
    except ImportError:  # loaded by a python3 without ansible (the unit checks)
        CallbackBase = object
        ANSIBLE_VERSION = None

PROTOCOL_VERSION = 1
MESSAGE_CAP = 8192          # the receiver's limit, whatever message_max says
BATCH_CAP = 1000            # the receiver's limit on events per request
BATCH_BYTES = 512 * 1024    # stay well under the receiver's default 1 MiB body limit
MAX_IPS = 32
LINGER = 2.0                # seconds to gather events into one request during the run
MAX_ADVISED_LINGER = 300.0  # the longest a receiver's pacing advice (linger_ms) is followed
SPOOL_MAX_FILES = 1000      # a VM whose receiver is gone for months must not fill its disk
RETRY_CAP = 300             # longest pause between two attempts of the detached sender
CLOCK_WINDOW = 300          # the receiver's tolerance for webhook-timestamp, in seconds
LOCAL_NAMES = ('localhost', '127.0.0.1', '::1')
# flush exit codes: all delivered (or refused for good), some left, bad usage, lock held elsewhere
EXIT_OK = 0
EXIT_LEFT = 1
EXIT_USAGE = 2
EXIT_BUSY = 75


# ---------------------------------------------------------------------------------------------
# Delivery: one signed POST and what its answer means
# ---------------------------------------------------------------------------------------------

SENT = 'sent'
REJECTED = 'rejected'
RETRY = 'retry'


def event_id():
    """A time-ordered UUID (version 7: Unix milliseconds, then random bits) for an event.

    Ids sort as the events happened, which keeps logs and spool files readable; the receiver
    stores events by run and seq, so it needs no particular order.
    """
    value = (int(time.time() * 1000) & (2 ** 48 - 1)) << 80 | int.from_bytes(os.urandom(10), 'big')
    value = (value & ~(0xF << 76)) | (0x7 << 76)          # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)          # RFC 4122 variant
    return str(uuid.UUID(int=value))


def webhook_endpoint(base_url):
    """`<url>/webhook` for a base URL (a URL that already ends in /webhook is kept)."""
    base = base_url.strip().rstrip('/')
    return base if base.endswith('/webhook') else base + '/webhook'


def parse_secret(text):
    """Signing key of a `whsec_<base64>` secret (the prefix is optional, as in Standard Webhooks)."""
    text = text.strip()
    if text.startswith('whsec_'):
        text = text[len('whsec_'):]
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        key = b''
    if not key:
        raise ValueError('the signing secret is not whsec_<base64>')
    return key


def load_secret(secret, secret_file):
    """The key from the secret or the file holding it; None when neither is set."""
    if not secret and secret_file:
        with open(secret_file, encoding='utf-8') as handle:
            secret = handle.read()
    return parse_secret(secret) if secret and secret.strip() else None


def signature_headers(key, body):
    """Standard Webhooks headers, made at send time so a spooled batch gets a fresh timestamp."""
    msg_id = 'msg_' + uuid.uuid4().hex
    stamp = str(int(time.time()))
    mac = hmac.new(key, msg_id.encode() + b'.' + stamp.encode() + b'.' + body, hashlib.sha256)
    return {
        'webhook-id': msg_id,
        'webhook-timestamp': stamp,
        'webhook-signature': 'v1,' + base64.b64encode(mac.digest()).decode(),
    }


def retry_after_seconds(value):
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def error_code(text):
    """The `code` of the receiver's JSON error body, None when the body is not one."""
    try:
        body = json.loads(text)
    except ValueError:
        return None
    code = body.get('code') if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def clock_skew_warning(date_header):
    """The warning for TIMESTAMP_OUT_OF_WINDOW, with the offset when the answer's Date shows it."""
    text = "receiver says this VM's clock is off by more than 5 minutes; will retry"
    try:
        offset = time.time() - email.utils.parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return text
    if abs(offset) <= CLOCK_WINDOW:
        return text  # Date has one-second steps and may come from another clock than the check
    hours = abs(offset) / 3600
    if hours < 2:
        amount = '%.0f minutes' % (hours * 60)
    elif hours < 48:
        amount = '%.1f hours' % hours
    else:
        amount = '%.0f days' % (hours / 24)
    return '%s (its Date header puts this clock %s %s)' % (text, amount, 'ahead' if offset > 0 else 'behind')


def advised_linger(body):
    """Seconds the receiver's answer asks the sender to gather events (linger_ms); 0 for none or junk."""
    try:
        value = json.loads(body.decode('utf-8')).get('linger_ms', 0)
    except (ValueError, AttributeError):  # not JSON, not UTF-8, not an object
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return 0.0
    return min(max(value / 1000.0, 0.0), MAX_ADVISED_LINGER)


def env_flag(name, default):
    """A yes/no environment variable: 1/true/yes/on or 0/false/no/off; anything else is the default."""
    value = os.environ.get(name, '').strip().lower()
    if value in ('1', 'true', 'yes', 'on'):
        return True
    if value in ('0', 'false', 'no', 'off'):
        return False
    return default


def proxied(endpoint):
    """Whether urllib would send requests for this URL through a proxy from the environment."""
    parts = urllib.parse.urlsplit(endpoint)
    return parts.scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(parts.hostname or '')


class Transport:
    """Posts batch bodies to the receiver and sorts the answer into sent, rejected or retry.

    With keep_alive, one connection carries every request (a run's, or a flusher's) instead of a
    new one per request: at fleet scale a connection costs the receiver more than the events in a
    request (README, Performance). Through a proxy from the environment, urllib posts each request
    as before, since http.client does not speak to proxies by itself.
    """

    def __init__(self, url, key, timeout, warn=None, keep_alive=True):
        self.endpoint = webhook_endpoint(url)
        self.key = key
        self.timeout = timeout
        # The receiver's latest pacing advice, in seconds (0: none); the sender lingers at least this.
        self.linger = 0.0
        self._warn = warn or (lambda message: None)
        self._skew_warned = False
        parts = urllib.parse.urlsplit(self.endpoint)
        self._direct = keep_alive and parts.scheme in ('http', 'https') and not proxied(self.endpoint)
        self._parts = parts
        self._conn = None

    def post(self, body):
        """Returns (outcome, retry_after_seconds_or_None, detail)."""
        headers = {'Content-Type': 'application/json', 'User-Agent': 'webhook-status-callback/1'}
        if self.key:
            # Signed here, on every attempt: a retry after the clock is fixed carries a good timestamp.
            headers.update(signature_headers(self.key, body))
        if not self._direct:
            return self._post_urllib(body, headers)
        try:
            status, answer_headers, data = self._exchange(body, headers)
        except (OSError, http.client.HTTPException) as err:  # refused, timeout, DNS, reset
            self.close()
            return RETRY, None, str(err) or type(err).__name__
        return self._answer(status, answer_headers, data)

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _exchange(self, body, headers):
        """One request on the open connection; a reused one the receiver closed while idle is retried once, fresh."""
        reused = self._conn is not None
        try:
            return self._request(body, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.close()
            if not reused:
                raise
            # Event ids make a delivery idempotent, so sending it again is safe even if it arrived.
            return self._request(body, headers)

    def _request(self, body, headers):
        if self._conn is None:
            kind = http.client.HTTPSConnection if self._parts.scheme == 'https' else http.client.HTTPConnection
            self._conn = kind(self._parts.hostname, self._parts.port, timeout=self.timeout)
        path = self._parts.path + ('?' + self._parts.query if self._parts.query else '')
        self._conn.request('POST', path, body=body, headers=headers)
        response = self._conn.getresponse()
        data = response.read()  # all of it, so the connection can carry the next request
        if response.will_close:
            self.close()
        return response.status, response.headers, data

    def _post_urllib(self, body, headers):
        request = urllib.request.Request(self.endpoint, data=body, headers=headers, method='POST')
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return self._answer(response.status, response.headers, response.read(256 * 1024))
        except urllib.error.HTTPError as err:
            try:
                data = err.read(4096)
            except (OSError, http.client.HTTPException):
                data = b''
            return self._answer(err.code, err.headers, data)
        except (OSError, http.client.HTTPException) as err:  # refused, timeout, DNS, reset
            return RETRY, None, str(getattr(err, 'reason', err))

    def _answer(self, code, headers, data):
        if 200 <= code < 300:
            self.linger = advised_linger(data)
            return SENT, None, ''
        detail = data[:4096].decode('utf-8', 'replace').strip()
        summary = 'HTTP %s %s' % (code, detail[:500])
        if code in (408, 429) or code >= 500:
            return RETRY, retry_after_seconds(headers.get('Retry-After')), summary
        if code == 401 and error_code(detail) == 'TIMESTAMP_OUT_OF_WINDOW':
            # The clock, not the batch, is wrong: time sync at first boot fixes it, and every
            # attempt is signed anew. A wrong secret (BAD_SIGNATURE) stays a refusal below.
            if not self._skew_warned:
                self._skew_warned = True
                self._warn(clock_skew_warning(headers.get('Date')))
            return RETRY, retry_after_seconds(headers.get('Retry-After')), summary
        # Any other answer (4xx, odd 3xx) will not change by sending the same bytes again.
        return REJECTED, None, summary


def encode_batch(events):
    """The body of a batch request; ASCII-escaped so odd strings can never break UTF-8."""
    return json.dumps({'events': events}, separators=(',', ':'), default=str).encode('ascii')


def split_batches(events, batch_size):
    """Chunks of at most batch_size events and about BATCH_BYTES each."""
    batch, size = [], 0
    for event in events:
        event_size = len(json.dumps(event, default=str))
        if batch and (len(batch) >= batch_size or size + event_size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += event_size
    if batch:
        yield batch


# ---------------------------------------------------------------------------------------------
# Spool: batches on disk until the receiver takes them
# ---------------------------------------------------------------------------------------------

def choose_spool_dir(preferred):
    """The preferred spool directory if it can be written, else ~/.cache/webhook-status."""
    for path in (preferred, os.path.join(os.path.expanduser('~'), '.cache', 'webhook-status')):
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
            if os.access(path, os.W_OK | os.X_OK):
                return path
        except OSError:
            continue
    return None


class Spool:
    """One JSON file per batch, named so that sorting them gives the order they were written."""

    def __init__(self, path):
        self.path = path
        self.rejected_path = os.path.join(path, 'rejected')

    def write(self, events, rejected=False):
        """Writes a batch atomically (temp file, fsync, rename), readable by the owner only."""
        folder = self.rejected_path if rejected else self.path
        os.makedirs(folder, mode=0o700, exist_ok=True)
        name = '%020d-%s.json' % (time.time_ns(), uuid.uuid4().hex[:8])
        temp = os.path.join(folder, '.' + name + '.tmp')
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'wb') as handle:
            handle.write(encode_batch(events))
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temp, os.path.join(folder, name))

    def files(self):
        """Pending batch files, oldest first."""
        try:
            names = os.listdir(self.path)
        except OSError:
            return []
        return sorted(n for n in names if n.endswith('.json') and not n.startswith('.'))

    def has_fresh(self, retry_for):
        """Whether a pending batch was spooled less than retry_for seconds ago."""
        horizon = time.time() - retry_for
        for name in self.files():
            try:
                if os.stat(os.path.join(self.path, name)).st_mtime > horizon:
                    return True
            except OSError:
                continue
        return False

    def trim(self):
        """Drops the oldest batches beyond SPOOL_MAX_FILES; returns how many were dropped."""
        excess = self.files()[:-SPOOL_MAX_FILES]
        for name in excess:
            self._remove(name)
        return len(excess)

    def try_lock(self):
        """An fd holding the spool's exclusive lock, or None when another process holds it."""
        fd = os.open(os.path.join(self.path, '.lock'), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError:
            os.close(fd)
            return None

    @staticmethod
    def unlock(fd):
        os.close(fd)  # closing the fd releases the flock

    def send_pass(self, transport, warn, log_sent=lambda name: None):
        """Sends pending files in order until one must be retried. Call with the lock held.

        Returns (all_done, retry_after, detail of the failure): stopping at the first retryable
        failure keeps the order and does not hammer a receiver that is down.
        """
        for name in self.files():
            path = os.path.join(self.path, name)
            try:
                with open(path, 'rb') as handle:
                    body = handle.read()
            except FileNotFoundError:
                continue  # trimmed meanwhile
            outcome, retry_after, detail = transport.post(body)
            if outcome == RETRY:
                return False, retry_after, detail
            if outcome == REJECTED:
                warn('receiver refused spooled batch %s, kept in %s: %s' % (name, self.rejected_path, detail))
                os.makedirs(self.rejected_path, mode=0o700, exist_ok=True)
                os.replace(path, os.path.join(self.rejected_path, name))
            else:
                self._remove(name)
                log_sent(name)
        return True, None, ''

    def _remove(self, name):
        try:
            os.unlink(os.path.join(self.path, name))
        except FileNotFoundError:
            pass


# ---------------------------------------------------------------------------------------------
# Background sender: the run only appends to a list; a daemon thread does the network I/O
# ---------------------------------------------------------------------------------------------

class BackgroundSender:
    """Batches queued events and posts them from a daemon thread, retrying with backoff."""

    def __init__(self, transport, spool, batch_size, warnings=None):
        self._transport = transport
        self._spool = spool
        self._batch_size = batch_size
        self._cond = threading.Condition()
        self._pending = []       # queued, not yet taken by the thread
        self._inflight = []      # taken by the thread, not yet acknowledged
        self._stopped = False
        self._flush_at = 0.0     # monotonic time flush() was asked, 0 when not flushing
        self._failed_at = 0.0    # monotonic time of the last retryable failure
        # Shown by the main thread (Display is not meant for threads); the transport's go here too.
        self.warnings = [] if warnings is None else warnings
        self.refused = 0         # batches the receiver refused for good
        self._thread = threading.Thread(target=self._run, name='webhook-status-sender', daemon=True)
        self._thread.start()

    def put(self, event):
        with self._cond:
            self._pending.append(event)
            self._cond.notify_all()

    def flush(self, timeout):
        """Waits until everything is sent, the next attempt fails, or timeout seconds pass."""
        with self._cond:
            self._flush_at = time.monotonic()
            self._cond.notify_all()
            self._cond.wait_for(
                lambda: not (self._pending or self._inflight) or self._failed_at > self._flush_at,
                timeout=timeout)

    def stop(self):
        """Stops the thread and returns the events it did not get acknowledged, oldest first."""
        with self._cond:
            self._stopped = True
            left = self._inflight + self._pending
            self._inflight, self._pending = [], []
            self._cond.notify_all()
        return left

    def _run(self):
        try:
            self._send_spool_first()
            backoff = 0.5
            while True:
                batch = self._take_batch()
                if batch is None:
                    return
                outcome, retry_after, detail = self._transport.post(encode_batch(batch))
                with self._cond:
                    if self._stopped:
                        return  # stop() took the batch; a late success is only a duplicate
                    if outcome == RETRY:
                        self._failed_at = time.monotonic()
                        self._cond.notify_all()
                        # A flush asked after this failure deserves one prompt retry.
                        self._cond.wait_for(lambda: self._stopped or self._flush_at > self._failed_at,
                                            timeout=retry_after or backoff)
                        backoff = min(backoff * 2, 30)
                        continue
                    if outcome == REJECTED:
                        self._reject(batch, detail)
                    self._inflight = []
                    backoff = 0.5
                    self._cond.notify_all()
        except Exception as err:  # never let the thread die silently
            self.warnings.append('sender thread stopped: %r' % (err,))
        finally:
            self._transport.close()  # the connection is this thread's: closed here, not by stop()

    def _take_batch(self):
        """Moves the next batch from pending to in flight; None once stopped."""
        with self._cond:
            if not self._inflight:
                self._cond.wait_for(lambda: self._stopped or self._pending)
                # Give a busy play a moment to queue more, so 200 tasks are not 200 requests; a
                # receiver pacing a large fleet may ask for longer (the end of the run does not wait).
                self._cond.wait_for(lambda: self._stopped or self._flush_at
                                    or len(self._pending) >= self._batch_size,
                                    timeout=max(LINGER, self._transport.linger))
                if self._stopped:
                    return None
                batch = next(split_batches(self._pending, self._batch_size))
                self._inflight = batch
                del self._pending[:len(batch)]
            return None if self._stopped else list(self._inflight)

    def _reject(self, batch, detail):
        try:
            self._spool.write(batch, rejected=True)
            where = 'kept in ' + self._spool.rejected_path
        except OSError as err:
            where = 'and could not be kept (%s)' % err
        self.refused += 1
        if self.refused <= 3:  # a wrong URL or secret refuses every batch: say it, not 50 times
            self.warnings.append('receiver refused %d events, %s: %s' % (len(batch), where, detail))

    def _send_spool_first(self):
        """Sends what earlier runs spooled, unless a detached sender is already on it."""
        fd = self._spool.try_lock()
        if fd is None:
            return
        try:
            self._spool.send_pass(self._transport, self.warnings.append)
        finally:
            Spool.unlock(fd)


# ---------------------------------------------------------------------------------------------
# Detached sender: the `flush` command, also started in the background at the end of a run
# ---------------------------------------------------------------------------------------------

def spawn_flusher(spool_dir, url, secret, retry_for, timeout):
    """Starts `flush` in its own session so it outlives this run (and a closing terminal)."""
    env = dict(os.environ)
    env.pop('WEBHOOK_SECRET_FILE', None)
    if secret:
        env['WEBHOOK_SECRET'] = secret  # the environment, unlike argv, is private to the user
    else:
        env.pop('WEBHOOK_SECRET', None)
    command = [sys.executable, os.path.abspath(__file__), 'flush', '--spool-dir', spool_dir,
               '--url', url, '--retry-for', str(retry_for), '--timeout', str(timeout),
               '--log-file', os.path.join(spool_dir, 'flush.log')]
    subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, cwd='/', env=env, start_new_session=True, close_fds=True)


def flush_spool(spool, transport, retry_for, log):
    """Sends the spool, retrying while some batch is younger than retry_for seconds.

    The lock is held only during a pass, so the next run's sender or a second flusher can take
    turns; a flusher that finds the lock taken waits while there is fresh work, then gives up.
    """
    # Its own deadline too: a first boot whose clock jumps forward would make every file look old.
    deadline = time.monotonic() + retry_for

    def keep_trying():
        return time.monotonic() < deadline or spool.has_fresh(retry_for)

    backoff = 5.0
    while spool.files():
        fd = spool.try_lock()
        if fd is None:
            if not keep_trying():
                log('another process holds the spool lock')
                return EXIT_BUSY
            time.sleep(5)
            continue
        try:
            done, retry_after, detail = spool.send_pass(transport, log, lambda name: log('delivered ' + name))
        finally:
            Spool.unlock(fd)
        if done:
            continue  # something may have been spooled during the pass
        if not keep_trying():
            log('not delivered (%s); %d batches left in %s' % (detail, len(spool.files()), spool.path))
            return EXIT_LEFT
        pause = min(retry_after if retry_after is not None else backoff, RETRY_CAP)
        log('not delivered (%s), next attempt in %.0fs' % (detail, pause))
        time.sleep(pause)
        backoff = min(backoff * 2, RETRY_CAP)
    return EXIT_OK


def open_log(path):
    """Appends to path, rotating it once past 256 KiB; stderr when no path is given."""
    if not path:
        return sys.stderr
    try:
        if os.path.getsize(path) > 256 * 1024:
            os.replace(path, path + '.1')
    except OSError:
        pass
    return open(path, 'a', encoding='utf-8')


# ---------------------------------------------------------------------------------------------
# Check-in: the `checkin` command, one per ansible-pull invocation, whether a playbook ran or not
# ---------------------------------------------------------------------------------------------

CHECKIN_RESULTS = ('ran', 'skipped', 'pull_failed', 'start_failed')
ERROR_LINES = 20
ERROR_CHARS = 4096
# The checkout step of ansible-pull is an ad-hoc `ansible -m git` run: its answer, in the
# minimal callback's format, ends with the module's result as JSON.
CHECKOUT_FAILED = re.compile(r'^\S+ \| (?:FAILED!|UNREACHABLE!) => ', re.MULTILINE)
CHECKOUT_DONE = re.compile(r'^\S+ \| (?:SUCCESS|CHANGED) => ', re.MULTILINE)
# ansible-pull limits its checkout to this machine's names, which the inventory never has: noise.
HOST_PATTERN = 'Could not match supplied host pattern'


def _json_after(text, match):
    """The JSON value that follows a regex match in text and where it ends; (None, start) if none."""
    try:
        return json.JSONDecoder().raw_decode(text, match.end())
    except ValueError:
        return None, match.end()


def js_length(text):
    """Length as the receiver counts it: UTF-16 code units (an emoji is two)."""
    return len(text.encode('utf-16-le')) // 2


def clip_error(text):
    """The last ERROR_LINES non-blank lines, at most ERROR_CHARS characters (the end is kept)."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    text = '\n'.join(lines[-ERROR_LINES:])
    if js_length(text) <= ERROR_CHARS:
        return text
    text = text[-(ERROR_CHARS - 1):]
    while js_length(text) > ERROR_CHARS - 1:
        text = text[1:]
    return '\u2026' + text


def checkin_error(output):
    """What went wrong, from ansible-pull's output, credentials in URLs removed.

    A failed checkout: the git module's msg and stderr, i.e. git's own words. Otherwise the output
    without the checkout's answer and without the usage text ansible-pull prints before "Could not
    find a playbook to run"; from an ERROR! on, only the warnings before it and the error itself.
    Its stdout is buffered and its stderr is not, so the parts may come in any order.
    """
    failed = list(CHECKOUT_FAILED.finditer(output))
    if failed:
        result, _ = _json_after(output, failed[-1])
        if isinstance(result, dict):
            msg = str(result.get('msg') or '').strip()
            stderr = str(result.get('stderr') or '').strip()
            text = msg if not stderr or stderr in msg else (msg + '\n' + stderr).strip()
            if text:
                return clip_error(redact_text(text))
    for done in reversed(list(CHECKOUT_DONE.finditer(output))):
        end = _json_after(output, done)[1]
        output = output[:done.start()] + output[end:]
    lines, in_usage = [], False
    for line in output.splitlines():
        if line.startswith('usage: ansible-pull'):
            in_usage = True
        elif line.startswith(('ERROR!', '[WARNING]', '[DEPRECATION WARNING]')):
            in_usage = False
        if not in_usage and not line.startswith('Starting Ansible Pull at ') and HOST_PATTERN not in line:
            lines.append(line)
    errors = [i for i, line in enumerate(lines) if line.startswith('ERROR!')]
    if errors:
        lines = [line for line in lines[:errors[-1]] if line.startswith('[WARNING]')] + lines[errors[-1]:]
    return clip_error(redact_text('\n'.join(lines)))


def checkin_data(args, error_text):
    """The `data` of a check-in: only fields known and valid, never null (docs/protocol.md)."""
    data = {'result': args.result, 'exit_code': min(max(args.exit_code, 0), 255),
            'duration_ms': max(args.duration_ms, 0)}
    for key, value in (('commit_before', args.commit_before), ('commit_after', args.commit_after)):
        commit = (value or '').strip().lower()
        if re.fullmatch(r'[0-9a-f]{7,64}', commit):
            data[key] = commit
    if args.interval_seconds and args.interval_seconds > 0:
        data['interval_seconds'] = args.interval_seconds
    if args.repo_url and args.repo_url.strip():
        data['repo_url'] = clip(redact_url(args.repo_url.strip()), 2048)
    if args.playbook and args.playbook.strip():
        data['playbook'] = clip(args.playbook.strip(), 1024)
    if error_text:
        data['error'] = error_text
    return data


def env_vmid():
    """WEBHOOK_VMID when it is a Proxmox VMID, as the plugin's vmid option."""
    value = (os.environ.get('WEBHOOK_VMID') or '').strip()
    return int(value) if value.isdigit() and 0 < int(value) <= 999_999_999 else None


def env_number(name, default, kind=float):
    try:
        return kind(os.environ.get(name, default))
    except ValueError:
        return default


def checkin_event(args):
    """The check-in event: same envelope and host identity as the plugin's events."""
    error_text = ''
    if args.error_file:
        try:
            with open(args.error_file, encoding='utf-8', errors='replace') as handle:
                error_text = checkin_error(handle.read())
        except OSError as err:
            error_text = 'could not read the output of ansible-pull: %s' % err
    run_id = valid_uuid(args.run_id) or env_run_id() or str(uuid.uuid4())
    return {
        'v': PROTOCOL_VERSION, 'kind': 'checkin', 'event_id': event_id(), 'run_id': run_id, 'seq': 0,
        'time': utc_now(), 'host': host_identity(env_vmid()), 'data': checkin_data(args, error_text),
    }


def checkin(args, log):
    """Spools the check-in and leaves its delivery to a detached sender: never waits for the network."""
    url = (args.url or '').strip()
    if not url:
        log('no url configured (WEBHOOK_URL); check-in not sent')
        return EXIT_OK
    secret = os.environ.get('WEBHOOK_SECRET')
    if not (secret and secret.strip()) and args.secret_file:
        with open(args.secret_file, encoding='utf-8') as handle:  # unreadable: said, and not sent
            secret = handle.read()
    secret = secret.strip() if secret and secret.strip() else None
    if secret:
        load_secret(secret, None)  # a bad secret is reported here rather than refused by the receiver
    spool_dir = choose_spool_dir(args.spool_dir)
    if not spool_dir:
        log('no writable spool directory; check-in lost')
        return EXIT_OK
    spool = Spool(spool_dir)
    spool.write([checkin_event(args)])
    spool.trim()
    retry_for = max(0, env_number('WEBHOOK_RETRY_FOR', 3600, int))
    if retry_for > 0:
        spawn_flusher(spool.path, url, secret, retry_for, max(0.1, env_number('WEBHOOK_TIMEOUT', 5.0)))
    return EXIT_OK


def add_checkin_parser(sub):
    parser = sub.add_parser(
        'checkin', help='report one ansible-pull invocation (ran, skipped, pull_failed, start_failed)',
        description='Spools a checkin event for the receiver and starts a detached sender that '
                    'delivers it with the usual retries. Reads WEBHOOK_URL, WEBHOOK_SECRET or '
                    'WEBHOOK_SECRET_FILE, WEBHOOK_SPOOL_DIR, WEBHOOK_VMID, WEBHOOK_RETRY_FOR and '
                    'WEBHOOK_RUN_ID like the plugin.',
        epilog='exit status: always 0, even on bad input, so a check-in can never fail the boot; '
               'problems are printed on stderr')
    parser.add_argument('--result', required=True, choices=CHECKIN_RESULTS)
    parser.add_argument('--exit-code', type=int, required=True, help="ansible-pull's exit code")
    parser.add_argument('--duration-ms', type=int, required=True)
    parser.add_argument('--commit-before', help='HEAD of the checkout before ansible-pull')
    parser.add_argument('--commit-after', help='HEAD of the checkout after ansible-pull')
    parser.add_argument('--interval-seconds', type=int, help='timer interval of periodic pulls; 0: none')
    parser.add_argument('--repo-url', help='repository URL (credentials are removed)')
    parser.add_argument('--playbook')
    parser.add_argument('--error-file', help="ansible-pull's output, for the error summary")
    parser.add_argument('--run-id', help='default $WEBHOOK_RUN_ID, else a new UUID')
    parser.add_argument('--url', default=os.environ.get('WEBHOOK_URL'), help='receiver base URL (default $WEBHOOK_URL)')
    parser.add_argument('--spool-dir', default=os.environ.get('WEBHOOK_SPOOL_DIR', '/var/spool/webhook-status'),
                        help='default $WEBHOOK_SPOOL_DIR or /var/spool/webhook-status')
    parser.add_argument('--secret-file', default=os.environ.get('WEBHOOK_SECRET_FILE'),
                        help='file with the whsec_ secret, read when $WEBHOOK_SECRET is unset')


def main(argv=None):
    """Command line: `flush` sends the spool now, `checkin` reports an invocation (see DOCUMENTATION)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ['checkin']:
        return main_checkin(argv)
    parser = argparse.ArgumentParser(prog='webhook_status.py', description='webhook status callback tools')
    sub = parser.add_subparsers(dest='command', required=True)
    add_checkin_parser(sub)
    flush = sub.add_parser(
        'flush', help='send spooled batches to the receiver',
        description='Sends the spooled batches, oldest first. The signing secret comes from '
                    '$WEBHOOK_SECRET or --secret-file.',
        epilog='exit status: 0 spool empty (refused batches are moved to rejected/), 1 batches left '
               'because the receiver was unreachable or busy, or said this clock is off, 2 usage error, '
               '75 another process holds the spool lock')
    flush.add_argument('--spool-dir', default=os.environ.get('WEBHOOK_SPOOL_DIR', '/var/spool/webhook-status'),
                       help='default $WEBHOOK_SPOOL_DIR or /var/spool/webhook-status')
    flush.add_argument('--url', default=os.environ.get('WEBHOOK_URL'), help='receiver base URL (default $WEBHOOK_URL)')
    flush.add_argument('--retry-for', type=int, default=0,
                       help='keep retrying while a batch is younger than this many seconds (0: one pass)')
    flush.add_argument('--timeout', type=float, default=5.0, help='seconds per HTTP request')
    flush.add_argument('--secret-file', default=os.environ.get('WEBHOOK_SECRET_FILE'),
                       help='file with the whsec_ secret, read when $WEBHOOK_SECRET is unset')
    flush.add_argument('--log-file', help='append progress here instead of stderr')
    args = parser.parse_args(argv)
    if not args.url:
        parser.error('--url or WEBHOOK_URL is required')
    try:
        key = load_secret(os.environ.get('WEBHOOK_SECRET'), args.secret_file)
    except (OSError, ValueError) as err:
        parser.error('bad signing secret: %s' % err)
    out = open_log(args.log_file)

    def log(message):
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
        print('%s flush[%d] %s' % (stamp, os.getpid(), message), file=out, flush=True)

    spool_dir = args.spool_dir if os.path.isdir(args.spool_dir) else choose_spool_dir(args.spool_dir)
    if not spool_dir:
        log('no usable spool directory')
        return EXIT_USAGE
    transport = Transport(args.url, key, args.timeout, warn=log, keep_alive=env_flag('WEBHOOK_KEEP_ALIVE', True))
    code = flush_spool(Spool(spool_dir), transport, args.retry_for, log)
    transport.close()
    log('done, exit %d' % code)
    return code


def main_checkin(argv):
    """`checkin`: exit 0 whatever happens, bad usage included: the boot must go on."""
    parser = argparse.ArgumentParser(prog='webhook_status.py')
    add_checkin_parser(parser.add_subparsers(dest='command', required=True))

    def log(message):
        print('webhook_status checkin: %s' % message, file=sys.stderr, flush=True)

    try:
        return checkin(parser.parse_args(argv), log)
    except SystemExit as err:  # argparse: --help, or a usage error it has printed
        if err.code:
            log('bad usage, check-in not sent')
        return EXIT_OK
    except Exception as err:
        log('check-in not sent: %r' % (err,))
        return EXIT_OK


# ---------------------------------------------------------------------------------------------
# What the VM says about itself and the run
# ---------------------------------------------------------------------------------------------

def utc_now():
    """ISO 8601 UTC time with milliseconds, as the protocol's examples write it."""
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


def read_text(path):
    try:
        with open(path, encoding='utf-8') as handle:
            return handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def machine_id():
    value = (read_text('/etc/machine-id') or '').lower()
    return value if re.fullmatch(r'[0-9a-f]{32}', value) else None


def instance_id():
    """cloud-init's instance id: this run's instance data, else the id cloud-init last saw."""
    value = None
    try:
        with open('/run/cloud-init/instance-data.json', encoding='utf-8') as handle:
            value = json.load(handle).get('v1', {}).get('instance_id')
    except (OSError, ValueError, AttributeError):
        pass
    value = str(value).strip() if value else read_text('/var/lib/cloud/data/instance-id')
    return value if value and len(value) <= 128 else None


def clean_ips(candidates):
    """Valid, routable-looking addresses in canonical form, without duplicates, at most 32."""
    found = []
    for candidate in candidates:
        try:
            ip = ipaddress.ip_address(str(candidate).split('%')[0])
        except ValueError:
            continue
        if ip.version == 6 and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
            continue
        if str(ip) not in found:
            found.append(str(ip))
    return found[:MAX_IPS]


def system_ips():
    """Addresses from `hostname -I`, else from the kernel's choice of source address."""
    try:
        words = subprocess.run(['hostname', '-I'], capture_output=True, text=True, timeout=2).stdout.split()
    except (OSError, subprocess.SubprocessError):
        words = []
    if not words:
        # Connecting a UDP socket sends nothing but makes the kernel pick the outgoing address.
        for family, probe in ((socket.AF_INET, '192.0.2.1'), (socket.AF_INET6, '2001:db8::1')):
            try:
                with socket.socket(family, socket.SOCK_DGRAM) as probe_socket:
                    probe_socket.connect((probe, 9))
                    words.append(probe_socket.getsockname()[0])
            except OSError:
                continue
    return clean_ips(words)


def host_identity(vmid):
    """The `host` object of every event; only hostname is required by the protocol."""
    identity = {'hostname': (socket.gethostname() or 'localhost')[:253]}
    for key, value in (('machine_id', machine_id()), ('instance_id', instance_id()), ('vmid', vmid)):
        if value:
            identity[key] = value
    ips = system_ips()
    if ips:
        identity['ips'] = ips
    return identity


def git_output(folder, *args):
    try:
        done = subprocess.run(['git', '-C', folder] + list(args), capture_output=True, text=True, timeout=5,
                              env=dict(os.environ, GIT_TERMINAL_PROMPT='0'))
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def redact_url(url):
    """Drops credentials from an http(s) URL, e.g. a token ansible-pull was given in the URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ('http', 'https') and '@' in parts.netloc:
        return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit('@', 1)[1]))
    return url


# Userinfo of an http(s) URL anywhere in free text: up to the last @ before the host's end.
URL_CREDENTIALS = re.compile(r'\b(https?://)[^\s/\'"]*@', re.IGNORECASE)


def redact_text(text):
    """Drops credentials from every http(s) URL in text (git's messages repeat the URL)."""
    return URL_CREDENTIALS.sub(r'\1', text)


def valid_uuid(value):
    """value as a canonical lowercase UUID, None unless it is one the receiver accepts (RFC 9562)."""
    try:
        parsed = uuid.UUID((value or '').strip())
    except ValueError:
        return None
    # Python also takes the nil UUID and other variants, which the receiver refuses, and a refused
    # run id would send every batch of the run to rejected/.
    return str(parsed) if parsed.variant == uuid.RFC_4122 and 1 <= (parsed.version or 0) <= 8 else None


def env_run_id():
    """The run id WEBHOOK_RUN_ID gives, None when unset or not a UUID."""
    return valid_uuid(os.environ.get('WEBHOOK_RUN_ID'))


def playbook_source(playbook_path):
    """repo_url and commit of the checkout the playbook lives in, when it is a git checkout."""
    folder = os.path.dirname(os.path.abspath(playbook_path))
    found = {}
    url = git_output(folder, 'config', '--get', 'remote.origin.url')
    if url:
        found['repo_url'] = redact_url(url)[:2048]
    commit = (git_output(folder, 'rev-parse', 'HEAD') or '').lower()
    if re.fullmatch(r'[0-9a-f]{7,64}', commit):
        found['commit'] = commit
    return found


def clip(text, limit):
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + '\u2026'


def find_live_stats():
    """The running TaskQueueManager's stats, found on the call stack (it calls every callback).

    Ansible hands stats to callbacks only at the end, but the strategy counts a rescued failure
    just before it sends v2_runner_on_failed, so the live counter is the exact way to tell.
    """
    frame = sys._getframe(1)
    for _ in range(10):
        if frame is None:
            return None
        stats = getattr(frame.f_locals.get('self'), '_stats', None)
        if stats is not None and isinstance(getattr(stats, 'rescued', None), dict):
            return stats
        frame = frame.f_back
    return None


# ---------------------------------------------------------------------------------------------
# The callback
# ---------------------------------------------------------------------------------------------

def guarded(method):
    """Turns any exception of a hook into a warning: reporting must never fail the play."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self.disabled:
            return None
        try:
            result = method(self, *args, **kwargs)
            self._show_thread_warnings()
            return result
        except Exception as err:
            self._warn('%s failed: %r' % (method.__name__, err))
            return None
    return wrapper


class CallbackModule(CallbackBase):
    """Reports the run to the webhook status receiver; see DOCUMENTATION."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'notification'
    CALLBACK_NAME = 'webhook_status'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self.disabled = False
        self._sender = None
        # The ansible-pull-webhook wrapper chooses the run id, so its check-in names this run.
        self._run_id = env_run_id() or str(uuid.uuid4())
        self._seq = 0
        self._started = None      # monotonic start of the run, None before run_started
        self._finished = False
        self._identity = None
        self._play = ''
        self._task_starts = {}    # task uuid or (host, task uuid) -> monotonic start
        self._rescued_seen = {}   # host -> rescued count already reported
        self._live_stats = None   # the TaskQueueManager's stats, once found

    # -- set-up ---------------------------------------------------------------------------------

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        try:
            self._configure()
        except Exception as err:
            self._warn('disabled, bad configuration: %s' % (err,))
            self.disabled = True

    def _configure(self):
        if self._sender is not None:
            return  # configured already: one sender thread per run
        url = (self.get_option('url') or '').strip()
        if not url:
            self._warn('no url configured (WEBHOOK_URL or [callback_webhook_status] url); not reporting')
            self.disabled = True
            return
        self._url = url
        self._secret = self._secret_text()
        key = load_secret(self._secret, None) if self._secret else None
        self._timeout = max(0.1, float(self.get_option('timeout')))
        self._flush_timeout = max(0.0, float(self.get_option('flush_timeout')))
        self._message_max = min(max(1, int(self.get_option('message_max'))), MESSAGE_CAP)
        self._batch_size = min(max(1, int(self.get_option('batch_size'))), BATCH_CAP)
        self._retry_for = max(0, int(self.get_option('retry_for')))
        self._vmid = self._checked_vmid(self.get_option('vmid'))
        spool_dir = choose_spool_dir(self.get_option('spool_dir'))
        if not spool_dir:
            self._warn('no writable spool directory; undelivered events will be lost')
        elif spool_dir != self.get_option('spool_dir'):
            self._display.vv('webhook_status: %s is not writable, spooling to %s' % (self.get_option('spool_dir'), spool_dir))
        self._spool = Spool(spool_dir) if spool_dir else None
        warnings = []  # filled by the sender thread, shown by the main thread
        transport = Transport(url, key, self._timeout, warn=warnings.append,
                              keep_alive=bool(self.get_option('keep_alive')))
        self._sender = BackgroundSender(transport, self._spool or _NoSpool(), self._batch_size, warnings)
        atexit.register(self._finish_at_exit, os.getpid())
        self._finish_on_sigterm(os.getpid())

    def _finish_on_sigterm(self, pid):
        """timeout, systemctl stop and a cancelled CI job send SIGTERM, which skips atexit: finish there too."""
        try:
            previous = signal.getsignal(signal.SIGTERM)
        except ValueError:  # not the main thread: leave signals alone
            return

        def on_term(signum, frame):
            if os.getpid() == pid:  # forked workers inherit the handler and only die, as before
                self._finish_at_exit(pid)
            # Then terminate as SIGTERM would have, keeping exit status 143 (or the previous handler's way).
            signal.signal(signal.SIGTERM, previous if callable(previous) else signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

        try:
            signal.signal(signal.SIGTERM, on_term)
        except ValueError:
            pass

    def _secret_text(self):
        if self.get_option('secret'):
            return self.get_option('secret').strip()
        if self.get_option('secret_file'):
            with open(self.get_option('secret_file'), encoding='utf-8') as handle:
                return handle.read().strip()
        return None

    def _checked_vmid(self, value):
        if value is None:
            return None
        if 0 < int(value) <= 999_999_999:
            return int(value)
        self._warn('ignoring vmid %r: not a Proxmox VMID' % (value,))
        return None

    # -- hooks ----------------------------------------------------------------------------------

    @guarded
    def v2_playbook_on_start(self, playbook):
        if self._started is not None:
            return  # ansible-playbook a.yml b.yml: one run, reported once
        self._started = time.monotonic()
        self._identity = host_identity(self._vmid)
        data = {'playbook': clip(playbook._file_name, 1024), 'ansible_version': ANSIBLE_VERSION,
                'check_mode': bool(context.CLIARGS.get('check', False))}
        data.update(playbook_source(playbook._file_name))
        self._emit('run_started', data)

    @guarded
    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name() or ''

    @guarded
    def v2_playbook_on_task_start(self, task, is_conditional=None):
        self._task_starts[task._uuid] = time.monotonic()

    v2_playbook_on_handler_task_start = v2_playbook_on_task_start

    @guarded
    def v2_playbook_on_cleanup_task_start(self, task):
        self._task_starts[task._uuid] = time.monotonic()

    @guarded
    def v2_runner_on_start(self, host, task):
        self._task_starts[(host.get_name(), task._uuid)] = time.monotonic()

    @guarded
    def v2_runner_on_ok(self, result):
        self._learn_ips(result)
        self._task_result(result, 'changed' if result._result.get('changed') else 'ok')

    @guarded
    def v2_runner_on_failed(self, result, ignore_errors=False):
        if ignore_errors:
            status = 'ignored'
        elif self._was_rescued(result._host.get_name()):
            status = 'rescued'
        else:
            status = 'failed'
        self._task_result(result, status)

    @guarded
    def v2_runner_on_skipped(self, result):
        self._task_result(result, 'skipped')

    @guarded
    def v2_runner_on_unreachable(self, result):
        self._task_result(result, 'unreachable')

    @guarded
    def v2_playbook_on_stats(self, stats):
        recap = {}
        for host in sorted(stats.processed):
            counts = stats.summarize(host)
            recap[clip(host, 253)] = {
                'ok': counts['ok'], 'changed': counts['changed'], 'failed': counts['failures'],
                'skipped': counts['skipped'], 'unreachable': counts['unreachable'],
                'rescued': counts['rescued'], 'ignored': counts['ignored'],
            }
        bad = any(c['failed'] or c['unreachable'] for c in recap.values())
        self._emit('run_finished', {'result': 'failed' if bad else 'success',
                                    'duration_ms': self._ms_since(self._started), 'stats': recap})
        self._finish()

    # -- events ---------------------------------------------------------------------------------

    def _emit(self, kind, data):
        if self._started is None:
            return  # no playbook started (ad-hoc `ansible` with callbacks on): not a run to report
        self._sender.put({
            'v': PROTOCOL_VERSION, 'event_id': event_id(), 'run_id': self._run_id,
            'seq': self._seq, 'time': utc_now(), 'kind': kind, 'host': self._identity, 'data': data,
        })
        self._seq += 1

    def _task_result(self, result, status):
        task, host = result._task, result._host.get_name()
        start = self._task_starts.pop((host, task._uuid), None) or self._task_starts.get(task._uuid)
        data = {
            'play': clip(self._play, 1024), 'task': clip(task.get_name() or task.action, 1024),
            'action': clip(getattr(task, 'resolved_action', None) or task.action, 256),
            'target': clip(host, 253), 'status': status, 'duration_ms': self._ms_since(start),
        }
        if self._is_no_log(result):
            data['no_log'] = True  # and no message: the receiver never sees what was hidden
        else:
            message = self._message(result._result, status)
            if message:
                data['message'] = clip(message, self._message_max)
        self._emit('task_result', data)

    @staticmethod
    def _is_no_log(result):
        no_log = result._task.no_log
        return (isinstance(no_log, bool) and no_log) or bool(result._result.get('_ansible_no_log')) \
            or 'censored' in result._result

    @staticmethod
    def _message(outcome, status):
        """msg of the result, plus stderr when something went wrong (a failed command's msg is vague)."""
        parts = []
        msg = outcome.get('msg') if 'msg' in outcome else outcome.get('skip_reason')
        if msg not in (None, ''):
            parts.append(msg if isinstance(msg, str) else json.dumps(msg, default=str))
        stderr = outcome.get('stderr')
        if status in ('failed', 'ignored', 'rescued', 'unreachable') and isinstance(stderr, str) and stderr.strip():
            parts.append(stderr.strip())
        return '\n'.join(parts)

    def _was_rescued(self, host):
        """Whether the strategy just counted this failure as rescued (see find_live_stats)."""
        if self._live_stats is None:
            self._live_stats = find_live_stats()
        if self._live_stats is None:
            return False
        count = self._live_stats.rescued.get(host, 0)
        rescued = count > self._rescued_seen.get(host, 0)
        self._rescued_seen[host] = count
        return rescued

    def _learn_ips(self, result):
        """Gathered facts of this machine give better addresses than the guess made at start."""
        facts = result._result.get('ansible_facts')
        if not isinstance(facts, dict) or self._identity is None:
            return
        if 'ansible_all_ipv4_addresses' not in facts and 'ansible_all_ipv6_addresses' not in facts:
            return
        mine = result._host.get_name() in LOCAL_NAMES or (
            self._identity.get('machine_id') and facts.get('ansible_machine_id') == self._identity['machine_id'])
        if not mine:
            return
        ips = clean_ips(list(facts.get('ansible_all_ipv4_addresses') or []) +
                        list(facts.get('ansible_all_ipv6_addresses') or []))
        if ips:
            # A new dict: queued events share the old one and the sender thread may be encoding it.
            self._identity = dict(self._identity, ips=ips)

    @staticmethod
    def _ms_since(start):
        return max(0, int((time.monotonic() - start) * 1000)) if start is not None else 0

    # -- end of run -----------------------------------------------------------------------------

    def _finish(self):
        """Gives the sender flush_timeout seconds, spools the rest, starts the detached sender."""
        if self._finished or self._sender is None:
            return
        self._finished = True
        self._sender.flush(self._flush_timeout)
        left = self._sender.stop()
        self._show_thread_warnings()
        if self._sender.refused > 3:
            self._warn('receiver refused %d batches in all' % self._sender.refused)
        if self._spool is None:
            if left:
                self._warn('%d events could not be delivered and there is no spool' % len(left))
            return
        for batch in split_batches(left, self._batch_size):
            self._spool.write(batch)
        dropped = self._spool.trim()
        if dropped:
            self._warn('spool full, dropped the %d oldest batches' % dropped)
        if self._spool.files() and self._retry_for > 0:
            spawn_flusher(self._spool.path, self._url, self._secret, self._retry_for, self._timeout)
        if left:
            self._display.vv('webhook_status: %d events spooled in %s' % (len(left), self._spool.path))

    def _finish_at_exit(self, pid):
        """An interrupted or crashed run never reaches v2_playbook_on_stats: spool what is queued."""
        if os.getpid() != pid:  # a forked worker inherited the handler
            return
        try:
            if self._started is not None and not self._finished and not self.disabled:
                # Without a recap the run would look running, then stale; it did not succeed.
                self._emit('run_finished', {'result': 'failed', 'duration_ms': self._ms_since(self._started),
                                            'stats': {}})
            self._finish()
        except Exception as err:
            self._warn('spooling at exit failed: %r' % (err,))

    def _show_thread_warnings(self):
        sender = self._sender
        while sender is not None and sender.warnings:
            self._warn(sender.warnings.pop(0))

    def _warn(self, message):
        self._display.warning('webhook_status: ' + message)


class _NoSpool:
    """Stands in for the spool when no directory is writable: nothing is kept."""
    path = rejected_path = '(nowhere)'

    def try_lock(self):
        return None

    def write(self, events, rejected=False):
        raise OSError('no writable spool directory')


if __name__ == '__main__':
    sys.exit(main())
