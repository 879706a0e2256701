"""Unit checks of the webhook_status callback plugin, standard library only.

Run from the repository root, with the python3 that has ansible-core:
python3 -m unittest discover -s test/plugin -v
"""
import base64
import email.utils
import hashlib
import hmac
import http.server
import importlib.util
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

try:
    import yaml  # comes with ansible-core
except ImportError:
    yaml = None

sys.dont_write_bytecode = True  # no __pycache__ beside the plugin in the checkout
PLUGIN = Path(__file__).resolve().parents[2] / 'ansible' / 'callback_plugins' / 'webhook_status.py'


def load_plugin():
    spec = importlib.util.spec_from_file_location('webhook_status', PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ws = load_plugin()

# The tests talk to 127.0.0.1 only; a proxy from the environment must not get in the way.
for _name in ('http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'):
    os.environ.pop(_name, None)

SECRET = 'whsec_' + base64.b64encode(b'unit-test-key-0123456789abcdef!!').decode()
KEY = ws.parse_secret(SECRET)
WRONG_KEY = b'not the receiver key'
CLOCK_WARNING = "receiver says this VM's clock is off by more than 5 minutes; will retry"


def sign(key, msg_id, stamp, body):
    mac = hmac.new(key, ('%s.%s.' % (msg_id, stamp)).encode() + body, hashlib.sha256)
    return 'v1,' + base64.b64encode(mac.digest()).decode()


def error_body(status, code, message='refused'):
    return {'statusCode': status, 'code': code, 'error': 'Unauthorized' if status == 401 else 'Error',
            'message': message}


def event(seq, **data):
    return {'v': 1, 'event_id': 'e%d' % seq, 'run_id': 'r', 'seq': seq, 'time': '2026-11-26T08:00:00.000Z',
            'kind': 'task_result', 'host': {'hostname': 'h'}, 'data': data}


class Receiver:
    """A tiny receiver on 127.0.0.1 that checks Standard Webhooks signatures as the real one does.

    clock_offset moves its clock (the signature window and its Date header); scripted answers
    (status, JSON body, headers) are given, in order, before any check.
    """

    def __init__(self, key=KEY, clock_offset=0.0, scripted=(), http11=False):
        self.key = key
        # With http11 the receiver keeps connections open, as the real one does; drop_after lists
        # the requests (by index) after whose answer it closes the connection without saying so.
        self.drop_after = set()
        self.clock_offset = clock_offset
        self.scripted = list(scripted)
        self.requests = []      # dicts: headers, body, status, code
        self.on_answer = None   # called with each recorded request, before the answer is sent
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1' if http11 else 'HTTP/1.0'

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, payload, extra = receiver.answer(headers, body)
                record = {'headers': headers, 'body': body, 'status': status, 'peer': self.client_address,
                          'code': payload.get('code') if isinstance(payload, dict) else None}
                receiver.requests.append(record)
                if receiver.on_answer:
                    receiver.on_answer(record)
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if len(receiver.requests) - 1 in receiver.drop_after:
                    self.close_connection = True

            def date_time_string(self, timestamp=None):
                return email.utils.formatdate(time.time() + receiver.clock_offset, usegmt=True)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()

    def answer(self, headers, body):
        if self.scripted:
            status, payload, *extra = self.scripted.pop(0)
            return status, payload, extra[0] if extra else {}
        if self.key:
            msg_id, stamp, signature = (headers.get('webhook-' + n) for n in ('id', 'timestamp', 'signature'))
            if not (msg_id and stamp and signature):
                return 401, error_body(401, 'BAD_SIGNATURE', 'missing headers'), {}
            if abs(time.time() + self.clock_offset - int(stamp)) > 300:
                return 401, error_body(401, 'TIMESTAMP_OUT_OF_WINDOW', 'outside the window'), {}
            expected = sign(self.key, msg_id, stamp, body)
            if not any(hmac.compare_digest(expected, offered) for offered in signature.split(' ')):
                return 401, error_body(401, 'BAD_SIGNATURE', 'no valid v1 signature'), {}
        events = json.loads(body)['events']
        return 200, {'accepted': len(events), 'stored': len(events), 'duplicates': 0, 'results': []}, {}

    def statuses(self):
        return [r['status'] for r in self.requests]

    def delivered_events(self):
        return [e for r in self.requests if r['status'] == 200 for e in json.loads(r['body'])['events']]


class VmClock:
    """Stands in for the plugin's `time` module: a wall clock `offset` seconds off, sleeps not slept."""

    def __init__(self, offset=0.0, on_sleep=None):
        self.offset = offset
        self.on_sleep = on_sleep
        self.slept = []

    def time(self):
        return time.time() + self.offset

    def time_ns(self):
        return time.time_ns() + int(self.offset * 1e9)

    def monotonic(self):
        return time.monotonic()

    def sleep(self, seconds):
        self.slept.append(seconds)
        if len(self.slept) > 20:
            raise AssertionError('the flusher keeps retrying: %r' % self.slept)
        if self.on_sleep:
            self.on_sleep(seconds)


def free_port():
    """A local port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='webhook-status-test-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.spool = ws.Spool(os.path.join(self.tmp, 'spool'))
        os.makedirs(self.spool.path, mode=0o700)

    def rejected_files(self):
        try:
            return sorted(os.listdir(self.spool.rejected_path))
        except FileNotFoundError:
            return []


# ---------------------------------------------------------------------------------------------

class SigningTest(unittest.TestCase):
    def test_standard_webhooks_test_vector(self):
        # The example of the Standard Webhooks specification and its reference libraries.
        key = ws.parse_secret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')
        with mock.patch.object(ws.uuid, 'uuid4', return_value=SimpleNamespace(hex='p5jXN8AQM9LWM0D4loKWxJek')), \
                mock.patch.object(ws, 'time', VmClock(offset=1614265330.4 - time.time())):
            headers = ws.signature_headers(key, b'{"test": 2432232314}')
        self.assertEqual(headers, {
            'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
            'webhook-timestamp': '1614265330',
            'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
        })

    def test_secret_forms(self):
        raw = SECRET[len('whsec_'):]
        self.assertEqual(ws.parse_secret(raw), KEY)
        self.assertEqual(ws.parse_secret('  %s\n' % SECRET), KEY)
        for bad in ('whsec_', 'whsec_not base64!', ''):
            with self.assertRaises(ValueError, msg=bad):
                ws.parse_secret(bad)
        self.assertIsNone(ws.load_secret(None, None))
        with tempfile.NamedTemporaryFile('w', suffix='.secret') as handle:
            handle.write(SECRET + '\n')
            handle.flush()
            self.assertEqual(ws.load_secret(None, handle.name), KEY)
            self.assertEqual(ws.load_secret(SECRET, '/nonexistent'), KEY)  # the secret wins

    def test_every_attempt_is_signed_anew(self):
        clock = VmClock()
        with Receiver() as rx, mock.patch.object(ws, 'time', clock):
            transport = ws.Transport(rx.url, KEY, 5)
            body = ws.encode_batch([event(0)])
            self.assertEqual(transport.post(body)[0], ws.SENT)
            clock.offset = 120
            self.assertEqual(transport.post(body)[0], ws.SENT)
        first, second = (r['headers'] for r in rx.requests)
        self.assertNotEqual(first['webhook-id'], second['webhook-id'])
        self.assertAlmostEqual(int(second['webhook-timestamp']) - int(first['webhook-timestamp']), 120, delta=2)

    def test_unsigned_without_a_key(self):
        with Receiver(key=None) as rx:
            self.assertEqual(ws.Transport(rx.url + '/webhook/', None, 5).post(ws.encode_batch([event(0)]))[0],
                             ws.SENT)
        self.assertNotIn('webhook-signature', rx.requests[0]['headers'])
        self.assertEqual(rx.requests[0]['headers']['content-type'], 'application/json')


class RetryAfterTest(unittest.TestCase):
    def test_header_values(self):
        self.assertEqual(ws.retry_after_seconds('120'), 120.0)
        self.assertEqual(ws.retry_after_seconds(' 7 '), 7.0)
        later = email.utils.formatdate(time.time() + 90, usegmt=True)
        self.assertAlmostEqual(ws.retry_after_seconds(later), 90, delta=2)
        self.assertEqual(ws.retry_after_seconds(email.utils.formatdate(time.time() - 90, usegmt=True)), 0.0)
        for bad in (None, '', 'soon', '-5', '1.5'):
            self.assertIsNone(ws.retry_after_seconds(bad), bad)

    def test_answers_sorted_into_sent_retry_and_rejected(self):
        scripted = [
            (429, error_body(429, 'RATE_LIMITED'), {'Retry-After': '7'}),
            (503, error_body(503, 'STORAGE_UNAVAILABLE'), {'Retry-After': '2'}),
            (500, error_body(500, 'INTERNAL')),
            (408, 'timeout'),
            (400, error_body(400, 'INVALID_EVENT')),
            (413, error_body(413, 'BODY_TOO_LARGE')),
            (404, 'not here'),
        ]
        with Receiver(scripted=scripted) as rx:
            transport = ws.Transport(rx.url, KEY, 5)
            got = [transport.post(b'{"events":[]}')[:2] for _ in scripted]
        self.assertEqual(got, [(ws.RETRY, 7.0), (ws.RETRY, 2.0), (ws.RETRY, None), (ws.RETRY, None),
                               (ws.REJECTED, None), (ws.REJECTED, None), (ws.REJECTED, None)])

    def test_network_errors_are_retried(self):
        outcome, retry_after, detail = ws.Transport('http://127.0.0.1:%d' % free_port(), KEY, 2).post(b'{}')
        self.assertEqual((outcome, retry_after), (ws.RETRY, None))
        self.assertIn('refused', detail.lower())


class ClockSkewTest(unittest.TestCase):
    def test_timestamp_out_of_window_is_retried_and_warned_once(self):
        warnings = []
        with Receiver(clock_offset=3 * 3600) as rx:
            transport = ws.Transport(rx.url, KEY, 5, warn=warnings.append)
            first = transport.post(ws.encode_batch([event(0)]))
            second = transport.post(ws.encode_batch([event(0)]))
        self.assertEqual((first[0], second[0]), (ws.RETRY, ws.RETRY))
        self.assertIn('TIMESTAMP_OUT_OF_WINDOW', first[2])
        self.assertEqual(len(warnings), 1, warnings)
        self.assertTrue(warnings[0].startswith(CLOCK_WARNING), warnings[0])
        self.assertIn('3.0 hours behind', warnings[0])

    def test_bad_signature_and_other_401s_stay_permanent(self):
        warnings = []
        scripted = [(401, 'TIMESTAMP_OUT_OF_WINDOW'), (401, {'code': 'UNAUTHORIZED'}),
                    (400, error_body(400, 'TIMESTAMP_OUT_OF_WINDOW'))]
        with Receiver(scripted=scripted) as rx:
            transport = ws.Transport(rx.url, WRONG_KEY, 5, warn=warnings.append)
            outcomes = [transport.post(ws.encode_batch([event(0)])) for _ in range(len(scripted) + 1)]
        self.assertEqual([o[0] for o in outcomes], [ws.REJECTED] * 4)
        self.assertIn('BAD_SIGNATURE', outcomes[-1][2])
        self.assertEqual(warnings, [])

    def test_warning_text(self):
        def date(offset):
            return email.utils.formatdate(time.time() + offset, usegmt=True)
        self.assertEqual(ws.clock_skew_warning(None), CLOCK_WARNING)
        self.assertEqual(ws.clock_skew_warning('garbage'), CLOCK_WARNING)
        self.assertEqual(ws.clock_skew_warning(date(60)), CLOCK_WARNING)  # Date agrees: say no more
        self.assertEqual(ws.clock_skew_warning(date(-1800)), CLOCK_WARNING + ' (its Date header puts this clock '
                                                                             '30 minutes ahead)')
        self.assertTrue(ws.clock_skew_warning(date(5 * 86400)).endswith('5 days behind)'))


class IpFilterTest(unittest.TestCase):
    def test_clean_ips(self):
        got = ws.clean_ips(['10.1.0.21', '127.0.0.1', '::1', '169.254.1.1', 'fe80::1%eth0', '0.0.0.0', '::',
                            '224.0.0.1', 'ff02::1', 'not-an-ip', '', None, '10.1.0.21', '::ffff:10.1.0.22',
                            '2001:DB8:0:0::1', '2001:db8::2%eth0', '192.168.1.5'])
        self.assertEqual(got, ['10.1.0.21', '10.1.0.22', '2001:db8::1', '2001:db8::2', '192.168.1.5'])

    def test_at_most_32(self):
        got = ws.clean_ips(['10.0.0.%d' % i for i in range(1, 60)])
        self.assertEqual(len(got), ws.MAX_IPS)
        self.assertEqual(got[0], '10.0.0.1')


class RedactUrlTest(unittest.TestCase):
    def test_credentials_dropped_from_http_urls(self):
        cases = {
            'https://user:tok3n@git.example.com/infra/vm.git': 'https://git.example.com/infra/vm.git',
            'https://oauth2:abc@git.example.com:8443/x.git': 'https://git.example.com:8443/x.git',
            'http://u:p@ss@host/x?q=1': 'http://host/x?q=1',
            'https://token@host/x': 'https://host/x',
            'https://git.example.com/infra/vm.git': 'https://git.example.com/infra/vm.git',
            'git@github.com:org/repo.git': 'git@github.com:org/repo.git',
            'ssh://git@host/repo.git': 'ssh://git@host/repo.git',
        }
        for url, expected in cases.items():
            self.assertEqual(ws.redact_url(url), expected, url)

    @unittest.skipUnless(shutil.which('git'), 'git is not installed')
    def test_playbook_source_reports_the_redacted_remote(self):
        with tempfile.TemporaryDirectory() as repo:
            env = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM='1')
            subprocess.run(['git', 'init', '-q', repo], check=True, env=env)
            remote = 'https://deploy:s3cret@git.example.com/vm.git'
            subprocess.run(['git', '-C', repo, 'remote', 'add', 'origin', remote], check=True, env=env)
            found = ws.playbook_source(os.path.join(repo, 'site.yml'))
        self.assertEqual(found, {'repo_url': 'https://git.example.com/vm.git'})  # no commit yet


class SplitBatchesTest(unittest.TestCase):
    def test_by_count_in_order(self):
        batches = list(ws.split_batches([event(i) for i in range(250)], 100))
        self.assertEqual([len(b) for b in batches], [100, 100, 50])
        self.assertEqual([e['seq'] for b in batches for e in b], list(range(250)))
        self.assertEqual(list(ws.split_batches([], 100)), [])

    def test_by_size(self):
        events = [event(i, message='x' * 100_000) for i in range(12)]
        batches = list(ws.split_batches(events, 1000))
        self.assertGreater(len(batches), 1)
        for batch in batches:
            self.assertLessEqual(len(ws.encode_batch(batch)), ws.BATCH_BYTES + 1000)
        self.assertEqual([e['seq'] for b in batches for e in b], list(range(12)))

    def test_oversized_event_goes_alone(self):
        events = [event(0), event(1, message='y' * (ws.BATCH_BYTES + 10)), event(2)]
        self.assertEqual([[e['seq'] for e in b] for b in ws.split_batches(events, 100)], [[0], [1], [2]])


class SpoolTest(TempDirTest):
    def test_files_are_private(self):
        old = os.umask(0)  # the modes must come from the plugin, not from a strict umask
        try:
            spool_dir = ws.choose_spool_dir(os.path.join(self.tmp, 'new', 'spool'))
            spool = ws.Spool(spool_dir)
            spool.write([event(0)])
            spool.write([event(1)], rejected=True)
            os.close(spool.try_lock())
        finally:
            os.umask(old)
        self.assertEqual(stat.S_IMODE(os.stat(spool_dir).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(spool.rejected_path).st_mode), 0o700)
        batch = os.path.join(spool_dir, spool.files()[0])
        rejected = os.path.join(spool.rejected_path, os.listdir(spool.rejected_path)[0])
        for path in (batch, rejected, os.path.join(spool_dir, '.lock')):
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600, path)

    def test_write_is_atomic(self):
        seen = []
        real_rename = os.rename

        def rename(src, dst):
            seen.append({'temp': os.path.basename(src), 'target_existed': os.path.exists(dst),
                         'content': json.loads(Path(src).read_bytes()), 'visible': self.spool.files()})
            real_rename(src, dst)

        with mock.patch.object(ws.os, 'rename', rename):
            self.spool.write([event(0), event(1)])
        self.assertEqual(len(seen), 1)
        self.assertTrue(seen[0]['temp'].startswith('.') and seen[0]['temp'].endswith('.tmp'), seen[0]['temp'])
        self.assertFalse(seen[0]['target_existed'])
        self.assertEqual(seen[0]['content'], {'events': [event(0), event(1)]})
        self.assertEqual(seen[0]['visible'], [])  # a half-written batch is never sent
        self.assertEqual(len(self.spool.files()), 1)
        self.assertEqual([n for n in os.listdir(self.spool.path) if n.endswith('.tmp')], [])

    def test_failed_write_leaves_no_batch(self):
        with mock.patch.object(ws.os, 'fsync', side_effect=OSError(28, 'No space left on device')):
            with self.assertRaises(OSError):
                self.spool.write([event(0)])
        self.assertEqual(self.spool.files(), [])

    def test_order_trim_and_freshness(self):
        for i in range(5):
            self.spool.write([event(i)])
        names = self.spool.files()
        first_seq = [json.loads(Path(self.spool.path, n).read_bytes())['events'][0]['seq'] for n in names]
        self.assertEqual(first_seq, [0, 1, 2, 3, 4])
        with mock.patch.object(ws, 'SPOOL_MAX_FILES', 3):
            self.assertEqual(self.spool.trim(), 2)
        self.assertEqual(self.spool.files(), names[2:])
        self.assertTrue(self.spool.has_fresh(60))
        old = time.time() - 3600
        for name in self.spool.files():
            os.utime(os.path.join(self.spool.path, name), (old, old))
        self.assertFalse(self.spool.has_fresh(60))


class FlushLockTest(TempDirTest):
    def test_lock_is_exclusive(self):
        fd = self.spool.try_lock()
        self.assertIsNotNone(fd)
        self.assertIsNone(self.spool.try_lock())
        ws.Spool.unlock(fd)
        again = self.spool.try_lock()
        self.assertIsNotNone(again)
        ws.Spool.unlock(again)

    def test_flusher_waits_for_the_lock_while_work_is_fresh(self):
        self.spool.write([event(0)])
        holder = self.spool.try_lock()
        released = []

        def release(seconds):
            if not released:
                ws.Spool.unlock(holder)
                released.append(seconds)

        logs = []
        with Receiver() as rx, mock.patch.object(ws, 'time', VmClock(on_sleep=release)):
            code = ws.flush_spool(self.spool, ws.Transport(rx.url, KEY, 5), 60, logs.append)
        self.assertEqual(code, ws.EXIT_OK)
        self.assertEqual(released, [5])
        self.assertEqual(len(rx.delivered_events()), 1)


class FlushCommandTest(TempDirTest):
    """The `flush` command as the plugin starts it: this file run as a script."""

    def flush(self, *args, url=None, secret=SECRET):
        env = {k: v for k, v in os.environ.items() if not k.startswith('WEBHOOK_')}
        if secret:
            env['WEBHOOK_SECRET'] = secret
        command = [sys.executable, str(PLUGIN), 'flush', '--spool-dir', self.spool.path, '--retry-for', '0',
                   '--timeout', '2']
        if url:
            command += ['--url', url]
        done = subprocess.run(command + list(args), env=env, capture_output=True, text=True, timeout=30)
        return done.returncode, done.stderr

    def test_delivered_exit_0(self):
        self.spool.write([event(0), event(1)])
        self.spool.write([event(2)])
        with Receiver() as rx:
            code, log = self.flush(url=rx.url)
        self.assertEqual(code, ws.EXIT_OK, log)
        self.assertEqual([e['seq'] for e in rx.delivered_events()], [0, 1, 2])
        self.assertEqual(self.spool.files(), [])
        self.assertIn('delivered', log)

    def test_empty_spool_exit_0(self):
        code, log = self.flush(url='http://127.0.0.1:%d' % free_port())
        self.assertEqual(code, ws.EXIT_OK, log)

    def test_refused_batch_moves_to_rejected_exit_0(self):
        self.spool.write([event(0)])
        with Receiver(scripted=[(400, error_body(400, 'INVALID_EVENT'))]) as rx:
            code, log = self.flush(url=rx.url)
        self.assertEqual(code, ws.EXIT_OK, log)
        self.assertEqual(self.spool.files(), [])
        self.assertEqual(len(self.rejected_files()), 1)
        self.assertIn('INVALID_EVENT', log)
        self.assertEqual(len(rx.requests), 1)

    def test_bad_signature_is_rejected_exit_0(self):
        self.spool.write([event(0)])
        wrong = 'whsec_' + base64.b64encode(WRONG_KEY).decode()
        with Receiver() as rx:
            code, log = self.flush(url=rx.url, secret=wrong)
        self.assertEqual(code, ws.EXIT_OK, log)
        self.assertEqual(rx.requests[0]['code'], 'BAD_SIGNATURE')
        self.assertEqual(len(self.rejected_files()), 1)
        self.assertNotIn('clock', log)

    def test_unreachable_exit_1(self):
        self.spool.write([event(0)])
        code, log = self.flush(url='http://127.0.0.1:%d' % free_port())
        self.assertEqual(code, ws.EXIT_LEFT, log)
        self.assertEqual(len(self.spool.files()), 1)
        self.assertIn('1 batches left', log)

    def test_clock_off_keeps_the_batch_exit_1(self):
        self.spool.write([event(0)])
        with Receiver(clock_offset=-90 * 60) as rx:  # the receiver's clock says this one is ahead
            code, log = self.flush(url=rx.url)
        self.assertEqual(code, ws.EXIT_LEFT, log)
        self.assertEqual(rx.requests[0]['code'], 'TIMESTAMP_OUT_OF_WINDOW')
        self.assertEqual(len(self.spool.files()), 1)
        self.assertEqual(self.rejected_files(), [])
        self.assertEqual(log.count(CLOCK_WARNING), 1, log)
        self.assertIn('puts this clock 90 minutes ahead', log)

    def test_usage_errors_exit_2(self):
        code, log = self.flush()
        self.assertEqual(code, ws.EXIT_USAGE, log)
        self.assertIn('--url', log)
        code, log = self.flush(url='http://127.0.0.1:1', secret='whsec_%%%')
        self.assertEqual(code, ws.EXIT_USAGE, log)
        self.assertIn('bad signing secret', log)

    def test_second_flusher_exits_75_while_the_lock_is_held(self):
        self.spool.write([event(0)])
        with Receiver() as rx:
            fd = self.spool.try_lock()
            try:
                code, log = self.flush(url=rx.url)
            finally:
                ws.Spool.unlock(fd)
            self.assertEqual(code, ws.EXIT_BUSY, log)
            self.assertEqual(rx.requests, [])
            self.assertEqual(len(self.spool.files()), 1)
            code, log = self.flush(url=rx.url)
        self.assertEqual(code, ws.EXIT_OK, log)
        self.assertEqual(self.spool.files(), [])


class FlushClockSkewTest(TempDirTest):
    def test_flusher_retries_until_the_clock_is_synced(self):
        self.spool.write([event(0)])
        clock = VmClock(offset=-3600)  # first boot: the VM's clock an hour behind

        def sync_after_two(record):
            if len(rx.requests) == 2:
                clock.offset = 0  # time sync steps the clock

        logs = []
        with Receiver() as rx, mock.patch.object(ws, 'time', clock):
            rx.on_answer = sync_after_two
            code = ws.flush_spool(self.spool, ws.Transport(rx.url, KEY, 5, warn=logs.append), 600, logs.append)
        self.assertEqual(code, ws.EXIT_OK, logs)
        self.assertEqual(rx.statuses(), [401, 401, 200])
        self.assertEqual(clock.slept, [5.0, 10.0])
        self.assertEqual(self.spool.files(), [])
        self.assertEqual(self.rejected_files(), [])
        self.assertEqual([m for m in logs if m.startswith(CLOCK_WARNING)],
                         [CLOCK_WARNING + ' (its Date header puts this clock 60 minutes behind)'])


class BackgroundSenderTest(TempDirTest):
    def start(self, rx, key=KEY):
        self.warnings = []
        transport = ws.Transport(rx.url, key, 5, warn=self.warnings.append)
        sender = ws.BackgroundSender(transport, self.spool, 2, self.warnings)
        self.addCleanup(sender.stop)
        return sender

    def test_delivers_spool_first_then_events_in_batches(self):
        self.spool.write([event(0)])
        with Receiver() as rx:
            sender = self.start(rx)
            for seq in range(1, 6):
                sender.put(event(seq))
            sender.flush(10)
            left = sender.stop()
        self.assertEqual(left, [])
        self.assertEqual(rx.statuses(), [200] * 4)
        self.assertEqual([len(json.loads(r['body'])['events']) for r in rx.requests], [1, 2, 2, 1])
        self.assertEqual([e['seq'] for e in rx.delivered_events()], [0, 1, 2, 3, 4, 5])
        self.assertEqual(self.spool.files(), [])
        self.assertEqual((self.warnings, sender.refused), ([], 0))

    def test_timestamp_out_of_window_is_retried_with_a_fresh_signature(self):
        clock = VmClock(offset=-3600)

        def sync_after_two(record):
            if len(rx.requests) == 2:
                clock.offset = 0  # time sync steps the clock

        with Receiver() as rx, mock.patch.object(ws, 'time', clock):
            rx.on_answer = sync_after_two
            sender = self.start(rx)
            sender.put(event(0))
            sender.put(event(1))
            for _ in range(5):  # each flush makes the sender retry at once instead of backing off
                sender.flush(10)
                if 200 in rx.statuses():
                    break
            sender.flush(10)
            left = sender.stop()
        self.assertEqual(left, [])
        self.assertEqual(rx.statuses(), [401, 401, 200])
        self.assertEqual([r['code'] for r in rx.requests[:2]], ['TIMESTAMP_OUT_OF_WINDOW'] * 2)
        stamps = [int(r['headers']['webhook-timestamp']) for r in rx.requests]
        self.assertAlmostEqual(stamps[0], time.time() - 3600, delta=30)
        self.assertAlmostEqual(stamps[2], time.time(), delta=30)
        self.assertEqual(len({r['headers']['webhook-id'] for r in rx.requests}), 3)
        self.assertEqual([e['seq'] for e in rx.delivered_events()], [0, 1])
        self.assertEqual(self.warnings, [CLOCK_WARNING + ' (its Date header puts this clock 60 minutes behind)'])
        self.assertEqual(sender.refused, 0)
        self.assertEqual(self.rejected_files(), [])

    def test_bad_signature_is_rejected_and_kept(self):
        with Receiver() as rx:
            sender = self.start(rx, key=WRONG_KEY)
            sender.put(event(0))
            sender.flush(10)
            left = sender.stop()
        self.assertEqual(left, [])
        self.assertEqual([r['code'] for r in rx.requests], ['BAD_SIGNATURE'])
        self.assertEqual(sender.refused, 1)
        kept = self.rejected_files()
        self.assertEqual(len(kept), 1)
        self.assertEqual(json.loads(Path(self.spool.rejected_path, kept[0]).read_bytes()), {'events': [event(0)]})
        self.assertEqual(len(self.warnings), 1)
        self.assertIn('receiver refused 1 events', self.warnings[0])
        self.assertIn('BAD_SIGNATURE', self.warnings[0])

    def test_unreachable_receiver_leaves_events_for_the_spool(self):
        rx = SimpleNamespace(url='http://127.0.0.1:%d' % free_port())
        sender = self.start(rx)
        sender.put(event(0))
        sender.put(event(1))
        started = time.monotonic()
        sender.flush(10)
        self.assertLess(time.monotonic() - started, 5)  # the first failure ends the wait
        self.assertEqual([e['seq'] for e in sender.stop()], [0, 1])


class AdvisedLingerTest(unittest.TestCase):
    def test_answers_read_into_seconds(self):
        cases = [(b'{"accepted":1,"linger_ms":12500}', 12.5), (b'{"accepted":1}', 0.0), (b'{"linger_ms":-5}', 0.0),
                 (b'{"linger_ms":true}', 0.0), (b'{"linger_ms":"9000"}', 0.0), (b'{"linger_ms":1e12}', 300.0),
                 (b'[1,2]', 0.0), (b'not json', 0.0), (b'\xff\xfe', 0.0), (b'', 0.0)]
        for body, seconds in cases:
            self.assertEqual(ws.advised_linger(body), seconds, body)


class EventIdTest(unittest.TestCase):
    def test_version_7_ids_that_grow_with_time(self):
        ids = []
        for _ in range(3):
            ids.append(ws.event_id())
            time.sleep(0.002)
        parsed = [uuid.UUID(i) for i in ids]
        self.assertEqual([(p.version, p.variant) for p in parsed], [(7, uuid.RFC_4122)] * 3)
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), 3)
        stamp_ms = parsed[0].int >> 80
        self.assertAlmostEqual(stamp_ms / 1000, time.time(), delta=5)
        self.assertEqual(ws.valid_uuid(ids[0]), ids[0])


class KeepAliveTest(TempDirTest):
    """One connection carries the run's requests; a connection the receiver closed is replaced."""

    def deliver(self, rx, keep_alive=True, batches=4):
        transport = ws.Transport(rx.url, KEY, 5, keep_alive=keep_alive)
        outcomes = [transport.post(ws.encode_batch([event(seq)])) for seq in range(batches)]
        transport.close()
        return outcomes, [r['peer'] for r in rx.requests]

    def test_one_connection_for_every_request(self):
        with Receiver(http11=True) as rx:
            outcomes, peers = self.deliver(rx)
        self.assertEqual(outcomes, [(ws.SENT, None, '')] * 4)
        self.assertEqual(len(peers), 4)
        self.assertEqual(len(set(peers)), 1)

    def test_a_connection_closed_while_idle_is_replaced_and_nothing_is_lost(self):
        with Receiver(http11=True) as rx:
            rx.drop_after = {0, 2}
            outcomes, peers = self.deliver(rx)
        self.assertEqual(outcomes, [(ws.SENT, None, '')] * 4)
        self.assertEqual([e['seq'] for e in rx.delivered_events()], [0, 1, 2, 3])
        self.assertEqual(len(set(peers)), 3)
        self.assertEqual(peers[1], peers[2])

    def test_off_or_through_a_proxy_each_request_has_its_own_connection(self):
        with Receiver(http11=True) as rx:
            outcomes, peers = self.deliver(rx, keep_alive=False)
        self.assertEqual(outcomes, [(ws.SENT, None, '')] * 4)
        self.assertEqual(len(set(peers)), 4)
        with mock.patch.dict(os.environ, {'http_proxy': 'http://proxy.invalid:3128', 'no_proxy': ''}):
            self.assertTrue(ws.proxied('http://10.1.0.102:9191/webhook'))
            self.assertFalse(ws.Transport('http://10.1.0.102:9191', None, 5)._direct)
        with mock.patch.dict(os.environ, {'http_proxy': 'http://proxy.invalid:3128', 'no_proxy': '10.1.0.102'}):
            self.assertFalse(ws.proxied('http://10.1.0.102:9191/webhook'))

    def test_refusals_and_retries_read_the_same_on_a_kept_connection(self):
        scripted = [(503, error_body(503, 'OVERLOADED'), {'Retry-After': '2'}),
                    (401, error_body(401, 'BAD_SIGNATURE')), (200, {'accepted': 1, 'linger_ms': 9000})]
        with Receiver(http11=True, scripted=scripted) as rx:
            outcomes, peers = self.deliver(rx, batches=3)
        self.assertEqual([o[:2] for o in outcomes], [(ws.RETRY, 2), (ws.REJECTED, None), (ws.SENT, None)])
        self.assertIn('BAD_SIGNATURE', outcomes[1][2])
        self.assertEqual(len(set(peers)), 1)

    def test_flag_values(self):
        for value, expected in [('1', True), ('yes', True), ('off', False), ('0', False), ('', True), ('maybe', True)]:
            with mock.patch.dict(os.environ, {'WEBHOOK_KEEP_ALIVE': value}):
                self.assertEqual(ws.env_flag('WEBHOOK_KEEP_ALIVE', True), expected, value)


class PacingTest(TempDirTest):
    """The sender lingers at least as long as the receiver's latest answer asks (linger_ms)."""

    def batch_sizes(self, first_answer):
        # One event; once it is answered, three more 0.3 s apart, then the end of the run. The own
        # linger is cut to 0.05 s so that without advice each of the three goes alone.
        with Receiver(scripted=[first_answer]) as rx, mock.patch.object(ws, 'LINGER', 0.05):
            transport = ws.Transport(rx.url, KEY, 5)
            sender = ws.BackgroundSender(transport, self.spool, 100, [])
            self.addCleanup(sender.stop)
            sender.put(event(0))
            for _ in range(200):
                if rx.requests:
                    break
                time.sleep(0.05)
            for seq in (1, 2, 3):
                time.sleep(0.3)
                sender.put(event(seq))
            time.sleep(0.3)
            sender.flush(10)
            self.assertEqual(sender.stop(), [])
        self.assertEqual([e['seq'] for e in rx.delivered_events()], [0, 1, 2, 3])
        return [len(json.loads(r['body'])['events']) for r in rx.requests]

    def test_advice_gathers_the_next_events_into_one_batch(self):
        answer = {'accepted': 1, 'stored': 1, 'duplicates': 0, 'results': [], 'linger_ms': 60000}
        self.assertEqual(self.batch_sizes((200, answer)), [1, 3])

    def test_without_advice_the_own_linger_applies(self):
        answer = {'accepted': 1, 'stored': 1, 'duplicates': 0, 'results': []}
        self.assertEqual(self.batch_sizes((200, answer)), [1, 1, 1, 1])


@unittest.skipUnless(ws.ANSIBLE_VERSION, 'ansible-core is not installed')
class TaskMessageTest(unittest.TestCase):
    def setUp(self):
        self.events = []
        self.cb = ws.CallbackModule()
        self.cb._sender = SimpleNamespace(put=self.events.append, warnings=[])
        self.cb._started = time.monotonic()
        self.cb._identity = {'hostname': 'h'}
        self.cb._message_max = 20
        self.cb._play = 'Configure'

    def result(self, outcome, no_log=False):
        task = SimpleNamespace(no_log=no_log, _uuid='t1', action='command', resolved_action='ansible.builtin.command',
                               get_name=lambda: 'Run it')
        return SimpleNamespace(_task=task, _host=SimpleNamespace(get_name=lambda: 'localhost'), _result=outcome)

    def data(self):
        self.assertEqual(len(self.events), 1)
        return self.events[0]['data']

    def test_message_is_truncated(self):
        self.cb.v2_runner_on_failed(self.result({'msg': 'non-zero return code', 'stderr': 'E' * 500}))
        data = self.data()
        self.assertEqual(data['status'], 'failed')
        self.assertEqual(len(data['message']), 20)
        self.assertTrue(data['message'].startswith('non-zero return cod'))
        self.assertTrue(data['message'].endswith('\u2026'))

    def test_short_message_is_kept(self):
        self.cb.v2_runner_on_ok(self.result({'msg': 'all good', 'changed': True}))
        self.assertEqual((self.data()['status'], self.data()['message']), ('changed', 'all good'))

    def test_message_max_never_exceeds_the_receiver_cap(self):
        self.cb._message_max = ws.MESSAGE_CAP
        self.cb.v2_runner_on_ok(self.result({'msg': 'z' * 20000}))
        self.assertEqual(len(self.data()['message']), ws.MESSAGE_CAP)

    def test_no_log_sends_no_message(self):
        hidden = 'password=hunter2'
        for result in (self.result({'msg': hidden, 'stderr': hidden}, no_log=True),
                       self.result({'msg': hidden, '_ansible_no_log': True}),
                       self.result({'censored': "the output has been hidden due to 'no_log: true'", 'msg': hidden})):
            self.events.clear()
            self.cb.v2_runner_on_failed(result)
            data = self.data()
            self.assertTrue(data['no_log'])
            self.assertNotIn('message', data)
            self.assertNotIn('hunter2', json.dumps(self.events))

    def test_no_event_before_a_run_started(self):
        self.cb._started = None
        self.cb.v2_runner_on_ok(self.result({'msg': 'ad-hoc'}))
        self.assertEqual(self.events, [])


CHECKIN_KEYS = {'v', 'kind', 'event_id', 'run_id', 'seq', 'time', 'host', 'data'}
CHECKIN_DATA_KEYS = {'result', 'exit_code', 'commit_before', 'commit_after', 'duration_ms', 'interval_seconds',
                     'repo_url', 'playbook', 'error'}
UUID4 = r'^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
UUID7 = r'^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
# What ansible-pull prints when its checkout fails (ansible-core 2.14, git over https).
FAILED_CHECKOUT = """Starting Ansible Pull at 2026-12-02 04:46:54
/usr/bin/ansible-pull -U https://deploy:tok3n@git.example.com/infra.git -d /var/lib/ansible-pull site.yml
localhost | FAILED! => {
    "changed": false,
    "cmd": "/usr/bin/git ls-remote 'https://deploy:********@git.example.com/infra.git' -h refs/heads/HEAD",
    "msg": "remote: HTTP Basic: Access denied\\nfatal: Authentication failed for 'https://deploy:tok3n@git.example.com/infra.git/'",
    "rc": 128,
    "stderr": "remote: HTTP Basic: Access denied\\nfatal: Authentication failed for 'https://deploy:tok3n@git.example.com/infra.git/'\\n",
    "stdout": ""
}
"""
# A checkout that worked, then no playbook: ansible-pull prints its usage text before the error.
MISSING_PLAYBOOK = """Starting Ansible Pull at 2026-12-02 04:46:56
/usr/bin/ansible-pull -U https://u:p@git.example.com/r.git -d /var/lib/ansible-pull site.yml
[WARNING]: Could not match supplied host pattern, ignoring: vm
localhost | CHANGED => {
    "after": "399f09839cc7e39e919f44f5341749e1a53e47af",
    "before": null,
    "changed": true
}
[WARNING]: /var/lib/ansible-pull/site.yml: File does not exist
usage: ansible-pull [-h] [--version] [-v] [--private-key PRIVATE_KEY_FILE]
""" + ''.join('  --option-%d   some help text\n' % i for i in range(60)) + """ERROR! Could not find a playbook to run.
"""


class RedactTextTest(unittest.TestCase):
    def test_credentials_dropped_from_every_url_in_text(self):
        cases = {
            "fatal: Authentication failed for 'https://deploy:tok3n@git.example.com/x.git/'":
                "fatal: Authentication failed for 'https://git.example.com/x.git/'",
            'clone https://a:b@h1/x and HTTP://c@h2:8080/y then http://u:p@ss@h3/z':
                'clone https://h1/x and HTTP://h2:8080/y then http://h3/z',
            'ssh://git@host/repo.git and git@github.com:org/repo.git': 'ssh://git@host/repo.git and git@github.com:org/repo.git',
            'mail me at someone@example.com': 'mail me at someone@example.com',
            '"https://oauth2:glpat-xyz@gitlab.example/a.git"': '"https://gitlab.example/a.git"',
        }
        for text, expected in cases.items():
            self.assertEqual(ws.redact_text(text), expected, text)


class CheckinErrorTest(unittest.TestCase):
    def test_failed_checkout_gives_gits_message_without_credentials(self):
        error = ws.checkin_error(FAILED_CHECKOUT)
        self.assertEqual(error, "remote: HTTP Basic: Access denied\nfatal: Authentication failed for "
                                "'https://git.example.com/infra.git/'")
        self.assertNotIn('tok3n', error)

    def test_missing_playbook_keeps_the_warning_and_the_error_not_the_usage(self):
        self.assertEqual(ws.checkin_error(MISSING_PLAYBOOK),
                         '[WARNING]: /var/lib/ansible-pull/site.yml: File does not exist\n'
                         'ERROR! Could not find a playbook to run.')

    def test_the_error_may_come_before_the_buffered_stdout(self):
        lines = MISSING_PLAYBOOK.splitlines()
        error_first = '\n'.join(lines[:2] + lines[-1:] + lines[2:-1])
        self.assertEqual(ws.checkin_error(error_first),
                         'ERROR! Could not find a playbook to run.\n'
                         '[WARNING]: /var/lib/ansible-pull/site.yml: File does not exist')

    def test_at_most_20_lines_and_4096_characters_the_end_kept(self):
        many = '\n'.join('line %d' % i for i in range(100))
        self.assertEqual(ws.checkin_error(many).splitlines(), ['line %d' % i for i in range(80, 100)])
        long = ws.checkin_error('x' * 10_000 + 'THE END')
        self.assertEqual(len(long), ws.ERROR_CHARS)
        self.assertTrue(long.endswith('THE END') and long.startswith('\u2026'), long[:10])
        self.assertEqual(ws.checkin_error(''), '')
        wide = ws.checkin_error('\U0001F525' * 3000)  # two UTF-16 units each, as the receiver counts
        self.assertLessEqual(len(wide.encode('utf-16-le')) // 2, ws.ERROR_CHARS)
        self.assertGreater(len(wide), 2000)

    def test_unparsable_failure_falls_back_to_the_last_lines(self):
        text = 'localhost | FAILED! => not json\nfatal: https://u:p@h/x broke'
        self.assertEqual(ws.checkin_error(text), 'localhost | FAILED! => not json\nfatal: https://h/x broke')


class CheckinCommandTest(TempDirTest):
    """`webhook_status.py checkin` as the wrapper runs it: a script, configured by the environment."""

    def checkin(self, *args, env=None, url=None):
        base = {k: v for k, v in os.environ.items() if not k.startswith('WEBHOOK_')}
        base.update({'WEBHOOK_URL': url or 'http://127.0.0.1:%d' % free_port(),
                     'WEBHOOK_SPOOL_DIR': self.spool.path, 'WEBHOOK_RETRY_FOR': '0'})
        base.update(env or {})
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(PLUGIN), 'checkin'] + list(args), env=base,
                              capture_output=True, text=True, timeout=30)
        return done.returncode, done.stderr, time.monotonic() - started

    def spooled(self):
        events = [e for name in self.spool.files()
                  for e in json.loads(Path(self.spool.path, name).read_bytes())['events']]
        return events

    def test_event_shape_with_every_field(self):
        run_id = '0f9c3b52-8a4e-4d7e-9b1a-2c3d4e5f6a7b'
        output = os.path.join(self.tmp, 'output.txt')
        Path(output).write_text(FAILED_CHECKOUT)
        code, log, _ = self.checkin(
            '--result', 'pull_failed', '--exit-code', '2', '--duration-ms', '1234',
            '--commit-before', '3F2A9C1B7D4E5F60718293A4B5C6D7E8F9012345', '--commit-after', 'not-a-commit',
            '--interval-seconds', '1800', '--repo-url', 'https://deploy:tok3n@git.example.com/infra.git',
            '--playbook', 'site.yml', '--error-file', output,
            env={'WEBHOOK_RUN_ID': run_id.upper(), 'WEBHOOK_VMID': '101'})
        self.assertEqual((code, log), (0, ''))
        [event] = self.spooled()
        self.assertEqual(set(event), CHECKIN_KEYS)
        self.assertEqual((event['v'], event['kind'], event['seq'], event['run_id']), (1, 'checkin', 0, run_id))
        self.assertRegex(event['event_id'], UUID7)
        self.assertRegex(event['time'], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$')
        self.assertEqual(event['host']['hostname'], socket.gethostname())
        self.assertEqual(event['host']['vmid'], 101)
        self.assertEqual(event['data'], {
            'result': 'pull_failed', 'exit_code': 2, 'duration_ms': 1234,
            'commit_before': '3f2a9c1b7d4e5f60718293a4b5c6d7e8f9012345', 'interval_seconds': 1800,
            'repo_url': 'https://git.example.com/infra.git', 'playbook': 'site.yml',
            'error': "remote: HTTP Basic: Access denied\nfatal: Authentication failed for "
                     "'https://git.example.com/infra.git/'",
        })
        self.assertNotIn('tok3n', json.dumps(event))

    def test_unknown_fields_omitted_never_null(self):
        code, log, _ = self.checkin('--result', 'skipped', '--exit-code', '0', '--duration-ms', '5',
                                    '--interval-seconds', '0', '--repo-url', '', '--playbook', '')
        self.assertEqual((code, log), (0, ''))
        [event] = self.spooled()
        self.assertEqual(event['data'], {'result': 'skipped', 'exit_code': 0, 'duration_ms': 5})
        self.assertRegex(event['run_id'], UUID4)  # no WEBHOOK_RUN_ID: a new one
        self.assertNotIn(None, event['host'].values())
        self.assertTrue(set(event['data']) <= CHECKIN_DATA_KEYS)

    def test_receiver_down_exits_0_at_once_and_spools(self):
        # WEBHOOK_RETRY_FOR starts the detached sender, which keeps trying after the command is done.
        code, log, took = self.checkin('--result', 'ran', '--exit-code', '2', '--duration-ms', '9',
                                       env={'WEBHOOK_RETRY_FOR': '2'})
        self.assertEqual((code, log), (0, ''))
        self.assertLess(took, 5)
        self.assertEqual([e['data']['result'] for e in self.spooled()], ['ran'])

    def test_the_detached_sender_delivers_it_signed(self):
        secret_file = os.path.join(self.tmp, 'secret')
        Path(secret_file).write_text(SECRET + '\n')  # as the cloud-init template configures it
        with Receiver() as rx:
            code, log, took = self.checkin('--result', 'start_failed', '--exit-code', '5', '--duration-ms', '70',
                                           url=rx.url, env={'WEBHOOK_RETRY_FOR': '30', 'WEBHOOK_SECRET_FILE': secret_file})
            self.assertEqual((code, log), (0, ''))
            self.assertLess(took, 5)
            deadline = time.monotonic() + 15
            while not rx.delivered_events() and time.monotonic() < deadline:
                time.sleep(0.1)
        self.assertEqual(rx.statuses(), [200])  # the receiver checked the signature
        [event] = rx.delivered_events()
        self.assertEqual((event['kind'], event['data']['result']), ('checkin', 'start_failed'))
        deadline = time.monotonic() + 5
        while self.spool.files() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.spool.files(), [])

    def test_bad_usage_and_bad_values_still_exit_0(self):
        for args in (['--result', 'exploded', '--exit-code', '1', '--duration-ms', '1'],
                     ['--result', 'ran', '--exit-code', 'x', '--duration-ms', '1'],
                     ['--result', 'ran']):
            code, log, _ = self.checkin(*args)
            self.assertEqual(code, 0, args)
            self.assertIn('check-in not sent', log)
        for env in ({'WEBHOOK_SECRET': 'whsec_%%%'}, {'WEBHOOK_SECRET_FILE': os.path.join(self.tmp, 'no-secret')}):
            code, log, _ = self.checkin('--result', 'ran', '--exit-code', '0', '--duration-ms', '1', env=env)
            self.assertEqual(code, 0)
            self.assertIn('check-in not sent', log)
        self.assertEqual(self.spooled(), [])
        code, log, _ = self.checkin('--result', 'ran', '--exit-code', '300', '--duration-ms', '-4',
                                    '--error-file', os.path.join(self.tmp, 'missing'))
        self.assertEqual(code, 0)
        [event] = self.spooled()
        self.assertEqual(event['data']['exit_code'], 255)
        self.assertEqual(event['data']['duration_ms'], 0)
        self.assertIn('could not read the output of ansible-pull', event['data']['error'])

    def test_no_url_sends_nothing(self):
        code, log, _ = self.checkin('--result', 'ran', '--exit-code', '0', '--duration-ms', '1',
                                    env={'WEBHOOK_URL': ''})
        self.assertEqual(code, 0)
        self.assertIn('no url configured', log)
        self.assertEqual(self.spooled(), [])


class RunIdTest(unittest.TestCase):
    def test_env_run_id(self):
        for value, expected in (('0F9C3B52-8A4E-4D7E-9B1A-2C3D4E5F6A7B', '0f9c3b52-8a4e-4d7e-9b1a-2c3d4e5f6a7b'),
                                (' 0f9c3b52-8a4e-4d7e-9b1a-2c3d4e5f6a7b\n', '0f9c3b52-8a4e-4d7e-9b1a-2c3d4e5f6a7b'),
                                ('', None), ('not-a-uuid', None),
                                ('00000000-0000-0000-0000-000000000000', None),  # nil: refused by the receiver
                                ('0f9c3b52-8a4e-4d7e-cb1a-2c3d4e5f6a7b', None)):  # not the RFC variant
            with mock.patch.dict(os.environ, {'WEBHOOK_RUN_ID': value}):
                self.assertEqual(ws.env_run_id(), expected, value)

    @unittest.skipUnless(ws.ANSIBLE_VERSION, 'ansible-core is not installed')
    def test_the_plugin_uses_webhook_run_id(self):
        run_id = '6a1e2d3c-4b5a-4f6e-8d7c-9b0a1f2e3d4c'
        with mock.patch.dict(os.environ, {'WEBHOOK_RUN_ID': run_id}):
            self.assertEqual(ws.CallbackModule()._run_id, run_id)
        with mock.patch.dict(os.environ, {'WEBHOOK_RUN_ID': 'garbage'}):
            self.assertRegex(ws.CallbackModule()._run_id, UUID4)
        os.environ.pop('WEBHOOK_RUN_ID', None)
        first, second = ws.CallbackModule()._run_id, ws.CallbackModule()._run_id
        self.assertNotEqual(first, second)


@unittest.skipUnless(yaml, 'PyYAML is not installed')
class DocumentationTest(unittest.TestCase):
    def test_documentation_parses(self):
        doc = yaml.safe_load(ws.DOCUMENTATION)
        self.assertEqual(doc['name'], 'webhook_status')
        text = ' '.join(doc['description'])
        self.assertIn('KillMode=process', text)
        self.assertIn('TIMESTAMP_OUT_OF_WINDOW', text)


if __name__ == '__main__':
    unittest.main()
