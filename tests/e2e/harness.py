"""Shared helpers for the tt end-to-end tests (Python 3 stdlib only).

Every test file starts real `tt` processes on 127.0.0.1 through these helpers,
drives them through stdin (a pipe, or a pty for terminal mode), and reports
TAP on stdout. Everything started here is killed by PID at exit, and every
temporary directory is removed (set TT_E2E_KEEP=1 to keep them for a look).
"""

import atexit
import codecs
import hashlib
import json
import os
import pty
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 20.0
# Each test file must finish well under 3 minutes: after FILE_BUDGET seconds
# every wait gives up at once, and at HARD_LIMIT the file bails out.
FILE_BUDGET = 150.0
HARD_LIMIT = 170

LOG_LINE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),(\d{3}) - (.+)$")
TEMP_PREFIX = ".tt-dl-"
PEER_PROMPT = "Enter command (share/get/request logs/exit): "

_start = time.monotonic()
_deadline = _start + FILE_BUDGET
_procs = []
_dirs = []
_closers = []
_keep = os.environ.get("TT_E2E_KEEP") == "1"


def budget(timeout):
    """Clamp a wait to what is left of this file's time budget."""
    return max(0.0, min(timeout, _deadline - time.monotonic()))


class CheckFailed(Exception):
    pass


def require(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def eq(actual, expected, what):
    if actual != expected:
        raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")


def wait_for(pred, timeout=DEFAULT_TIMEOUT, what="condition", interval=0.05):
    """Poll pred() until it returns something truthy; return that value."""
    deadline = time.monotonic() + budget(timeout)
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise CheckFailed(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------- TAP


class Tap:
    """TAP reporter. Each check is a function run at once by the decorator:

        @t.test("peer 1 shares example.txt")
        def _():
            p1.send("share example.txt")
            p1.expect_line("Peer 1 shared a new files: example.txt")

    An exception inside makes the check `not ok` with diagnostics. After a
    fatal check fails, the remaining checks are reported as skipped.
    """

    def __init__(self):
        self.count = 0
        self.failures = 0
        self.skip_reason = None
        self.watched = []
        signal.signal(signal.SIGALRM, self._alarm)
        signal.alarm(HARD_LIMIT)

    def _alarm(self, signum, frame):
        print(f"Bail out! test file exceeded {HARD_LIMIT}s", flush=True)
        raise SystemExit(1)

    def diag(self, text):
        for line in str(text).splitlines() or [""]:
            print(f"# {line}", flush=True)

    def ok(self, cond, desc, diag=None):
        self.count += 1
        if cond:
            print(f"ok {self.count} - {desc}", flush=True)
        else:
            self.failures += 1
            print(f"not ok {self.count} - {desc}", flush=True)
            if diag:
                self.diag(diag)
        return bool(cond)

    def skip(self, desc, reason):
        self.count += 1
        print(f"ok {self.count} - {desc} # SKIP {reason}", flush=True)

    def test(self, desc, fatal=False, todo=None):
        """Run the decorated function as one check. With `todo` (a reason), a
        failure is reported as `not ok ... # TODO reason` and does not fail
        the file: for behaviour the protocol asks for but tt has not built."""
        def run(fn):
            if self.skip_reason:
                self.skip(desc, self.skip_reason)
                return None
            try:
                result = fn()
            except Exception as exc:  # report any failure as `not ok`
                if todo:
                    self.count += 1
                    print(f"not ok {self.count} - {desc} # TODO {todo}", flush=True)
                    self.diag(str(exc))
                    return None
                self.ok(False, desc)
                if isinstance(exc, (CheckFailed, ExpectTimeout)):
                    self.diag(str(exc))
                else:
                    self.diag("".join(traceback.format_exception(exc)).rstrip())
                self._dump_watched()
                if fatal:
                    self.skip_reason = f"after the fatal failure of check {self.count}"
                return None
            self.ok(True, desc)
            return result

        return run

    def watch(self, *procs):
        """Processes whose recent output is shown when a check fails."""
        self.watched.extend(procs)

    def _dump_watched(self):
        for p in self.watched:
            self.diag(f"--- recent output of {p.name} (exit code {p.poll()}):")
            self.diag(p.tail(8))
            err = p.stderr_tail(4)
            if err.strip():
                self.diag(f"--- stderr of {p.name}:")
                self.diag(err)

    def done(self):
        print(f"1..{self.count}", flush=True)
        signal.alarm(0)
        sys.exit(1 if self.failures else 0)


# ---------------------------------------------------------------- processes


class ExpectTimeout(Exception):
    pass


_stderr_dirs = []


def _stderr_dir():
    if not _stderr_dirs:
        _stderr_dirs.append(tempdir("stderr"))
    return _stderr_dirs[0]


class Proc:
    """A running program whose stdout is collected by a reader thread.

    Output is kept as one text buffer (\\r removed) with a read position:
    expect() searches from the position and moves it past the match, so
    successive expects must match in order.
    """

    def __init__(self, argv, cwd, name, use_pty=False, env=None, stdin_devnull=False,
                 stderr_pty=False):
        self.name = name
        self.argv = list(argv)
        self.cwd = cwd
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._cond = threading.Condition()
        self.stderr_path = os.path.join(_stderr_dir(), f"{name}-{len(_procs)}.stderr")
        self._errfile = open(self.stderr_path, "wb")
        self.use_pty = use_pty
        if use_pty:
            master, slave = pty.openpty()
            self.popen = subprocess.Popen(
                argv, cwd=cwd, env=env, stdin=slave, stdout=slave,
                stderr=slave if stderr_pty else self._errfile, close_fds=True)
            os.close(slave)
            self._in_fd = master
            self._out_fd = master
        else:
            self.popen = subprocess.Popen(
                argv, cwd=cwd, env=env,
                stdin=subprocess.DEVNULL if stdin_devnull else subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=self._errfile, close_fds=True)
            self._in_fd = None if stdin_devnull else self.popen.stdin.fileno()
            self._out_fd = self.popen.stdout.fileno()
        self.pid = self.popen.pid
        _procs.append(self)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    # -- output
    def _read_loop(self):
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            try:
                chunk = os.read(self._out_fd, 65536)
            except OSError:  # EIO on a pty once the child has gone
                chunk = b""
            with self._cond:
                if chunk:
                    self._buf += decoder.decode(chunk).replace("\r", "")
                else:
                    self._buf += decoder.decode(b"", final=True)
                    self._eof = True
                self._cond.notify_all()
            if not chunk:
                return

    def _wait_match(self, rx, timeout, lines_only, pattern_text):
        deadline = time.monotonic() + budget(timeout)
        with self._cond:
            while True:
                if lines_only:
                    end = self._buf.rfind("\n")
                    if self._eof:
                        end = len(self._buf)
                    m = rx.search(self._buf, self._pos, max(end, self._pos))
                else:
                    m = rx.search(self._buf, self._pos)
                if m:
                    self._pos = m.end()
                    if lines_only:
                        nl = self._buf.find("\n", self._pos)
                        self._pos = len(self._buf) if nl < 0 else nl + 1
                    return m
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    why = "output ended" if self._eof else f"timed out after {timeout}s"
                    raise ExpectTimeout(
                        f"{self.name}: {why} waiting for /{pattern_text}/\n"
                        f"unread output:\n{self._buf[self._pos:][-1500:]}")
                self._cond.wait(left)

    def expect(self, pattern, timeout=DEFAULT_TIMEOUT):
        """Wait for a complete line matching the regex (re.M, so ^ and $ work)."""
        return self._wait_match(re.compile(pattern, re.M), timeout, True, pattern)

    def expect_line(self, text, timeout=DEFAULT_TIMEOUT):
        """Wait for a line that is exactly `text`."""
        return self.expect("^" + re.escape(text) + "$", timeout)

    def expect_raw(self, text, timeout=DEFAULT_TIMEOUT):
        """Wait for `text` anywhere, also in an unfinished line (prompts)."""
        return self._wait_match(re.compile(re.escape(text)), timeout, False, text)

    def expect_raw_re(self, pattern, timeout=DEFAULT_TIMEOUT):
        """Wait for a regex match anywhere, also in an unfinished line."""
        return self._wait_match(re.compile(pattern, re.M), timeout, False, pattern)

    def read_until_line(self, text, timeout=DEFAULT_TIMEOUT):
        """Return the complete lines printed before the line that is exactly `text`."""
        with self._cond:
            start = self._pos
        self.expect_line(text, timeout)
        with self._cond:
            chunk = self._buf[start:self._pos]
        lines = chunk.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        lines.pop()  # the fence line itself
        return lines

    def settle(self, quiet=0.3, timeout=5.0):
        """Wait until no output has arrived for `quiet` seconds."""
        deadline = time.monotonic() + budget(timeout)
        last = self.output()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self.output()
            if now == last:
                return
            last = now

    def unread(self):
        with self._cond:
            return self._buf[self._pos:]

    def skip_all(self):
        with self._cond:
            self._pos = len(self._buf)

    def output(self):
        with self._cond:
            return self._buf

    def lines(self):
        return self.output().splitlines()

    def tail(self, n=8):
        return "\n".join(self.lines()[-n:])

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stderr_tail(self, n=4):
        return "\n".join(self.stderr_text().splitlines()[-n:])

    def stderr_lines(self):
        return self.stderr_text().splitlines()

    def expect_stderr(self, pattern, timeout=DEFAULT_TIMEOUT):
        """Wait for a complete stderr line matching the regex (re.M); return the match."""
        rx = re.compile(pattern, re.M)

        def found():
            text = self.stderr_text()
            return rx.search(text[:text.rfind("\n") + 1])

        try:
            return wait_for(found, timeout, f"/{pattern}/ on {self.name}'s stderr")
        except CheckFailed as exc:
            raise CheckFailed(f"{exc}\nstderr:\n{self.stderr_text()[-1500:]}")

    # -- input
    def send(self, line):
        data = (line + "\n").encode()
        try:
            os.write(self._in_fd, data)
        except OSError as exc:
            raise CheckFailed(f"{self.name}: cannot write to stdin: {exc}")

    def close_stdin(self):
        if self.use_pty:
            os.write(self._in_fd, b"\x04")  # ^D: end of input on a terminal
        elif self.popen.stdin and not self.popen.stdin.closed:
            self.popen.stdin.close()

    # -- lifetime
    def poll(self):
        return self.popen.poll()

    def alive(self):
        return self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout=DEFAULT_TIMEOUT):
        """Wait for exit and return the exit code (negative: killed by a signal)."""
        try:
            return self.popen.wait(budget(timeout))
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"{self.name} (pid {self.pid}) still running after {timeout}s")

    def stop(self, grace=3.0):
        """SIGTERM, then SIGKILL after `grace` seconds; always reaps."""
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait()
            except ProcessLookupError:
                pass
        self._reader.join(1.0)
        for closer in (self._errfile.close,):
            closer()
        if self.use_pty:
            try:
                os.close(self._in_fd)
            except OSError:
                pass
        else:
            for f in (self.popen.stdin, self.popen.stdout):
                try:
                    if f:
                        f.close()
                except OSError:
                    pass


def run(argv, timeout=DEFAULT_TIMEOUT, stdin=subprocess.DEVNULL, cwd=None):
    """Run a short command to completion; returns CompletedProcess (text)."""
    if cwd is None:
        cwd = tempdir("run")
    try:
        return subprocess.run(argv, stdin=stdin, capture_output=True, timeout=budget(timeout),
                              cwd=cwd, text=True, errors="replace")
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"{argv} still running after {timeout}s (killed)")


# ---------------------------------------------------------------- tt helpers


def tt_path():
    if len(sys.argv) < 2:
        print("usage: python3 test_X.py /abs/path/to/tt", file=sys.stderr)
        sys.exit(2)
    return os.path.abspath(sys.argv[1])


def start_tracker(tt, cwd=None, extra=(), name="tracker"):
    """Start `tt tracker --port 0`; returns the Proc with .port and .dir set."""
    cwd = cwd or tempdir("tracker")
    p = Proc([tt, "tracker", "--host", HOST, "--port", "0", *extra], cwd, name)
    m = p.expect(r"^Tracker started at 127\.0\.0\.1:(\d+)$")
    p.port = int(m.group(1))
    p.dir = cwd
    p.log_path = os.path.join(cwd, ".tracker.log")
    p.expect_line(f"Tracker running at {HOST}:{p.port}")
    return p


def start_peer(tt, peer_id, tracker_port, d=None, cwd=None, extra=(), use_pty=False,
               wait_join=True, name=None, stderr_pty=False):
    """Start `tt peer` listening on 127.0.0.1, port 0. Returns the Proc with
    .dir, .log_path and (once joined) .port set."""
    d = d or tempdir(f"peer{peer_id}")
    cwd = cwd or d
    argv = [tt, "peer", "--id", str(peer_id), "--tracker", f"{HOST}:{tracker_port}",
            "--dir", d, "--host", HOST, "--port", "0", *extra]
    p = Proc(argv, cwd, name or f"peer{peer_id}", use_pty=use_pty, stderr_pty=stderr_pty)
    p.dir = d
    p.peer_id = str(peer_id)
    p.log_path = os.path.join(cwd, f".peer_{peer_id}.log")
    p.port = None
    if wait_join:
        m = p.expect(rf"^Peer {re.escape(str(peer_id))} joined the network on TCP port (\d+)$")
        p.port = int(m.group(1))
    return p


def start_sharer(tt, peer_id, tracker_port, name, data, extra=()):
    """A tt peer in a new temp dir with file NAME (bytes `data`), joined and
    sharing it. Returns the Proc (the caller watches it)."""
    d = tempdir(f"sharer{peer_id}")
    write_bytes(f"{d}/{name}", data)
    p = start_peer(tt, peer_id, tracker_port, d, extra=extra)
    p.send(f"share {name}")
    p.expect_line(f"Peer {peer_id} shared a new files: {name}", timeout=30)
    return p


def read_log(path):
    """The lines of a log file, or [] when it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return []


def log_messages(path):
    """The message part of every well-formed log line."""
    out = []
    for line in read_log(path):
        m = LOG_LINE_RE.match(line)
        if m:
            out.append(m.group(3))
    return out


def check_log_format(path, max_skew=600):
    """Every line is `YYYY-MM-DD HH:MM:SS,mmm - message` with a recent local time."""
    lines = read_log(path)
    require(lines, f"log file {path} is missing or empty")
    now = time.time()
    for line in lines:
        m = LOG_LINE_RE.match(line)
        require(m, f"{path}: malformed log line {line!r}")
        stamp = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
        require(abs(stamp - now) < max_skew,
                f"{path}: timestamp {m.group(1)} is not local time now")
    return lines


# ---------------------------------------------------------------- files


def tempdir(tag="tmp"):
    d = os.path.realpath(tempfile.mkdtemp(prefix=f"tt-e2e-{tag}-"))
    _dirs.append(d)
    return d


def write_random(path, size, chunk=1 << 20):
    """Write `size` random bytes; return their SHA-256 hex digest."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left > 0:
            block = os.urandom(min(chunk, left))
            h.update(block)
            f.write(block)
            left -= len(block)
    return h.hexdigest()


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def temp_files(d):
    """Download temp files (.tt-dl-*) left in directory d."""
    return sorted(n for n in os.listdir(d) if n.startswith(TEMP_PREFIX))


def absent(d, name):
    """Check that nothing is under `name` in directory `d`."""
    require(not os.path.exists(os.path.join(d, name)), f"{name} exists in {d}")


def same_file(path, expected_sha, what=None):
    require(os.path.isfile(path), f"{what or path} does not exist")
    got = sha256_file(path)
    require(got == expected_sha,
            f"{what or path} differs from the original (size {os.path.getsize(path)})")


# ---------------------------------------------------------------- sockets


def udp_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    _closers.append(s.close)
    return s


def udp_ask(port, payload, timeout=3.0, sock=None):
    """Send one datagram (bytes, str, or an object to encode as JSON) to
    127.0.0.1:port and return the raw answer bytes, or None if none came."""
    if isinstance(payload, (dict, list)):
        payload = json.dumps(payload).encode()
    elif isinstance(payload, str):
        payload = payload.encode()
    s = sock or udp_socket()
    s.setblocking(False)
    while True:  # drop stale answers
        try:
            s.recv(65535)
        except (BlockingIOError, InterruptedError):
            break
    s.setblocking(True)
    s.sendto(payload, (HOST, port))
    return recv_answer(s, timeout)


def udp_ask_json(port, payload, timeout=3.0, sock=None):
    raw = udp_ask(port, payload, timeout, sock)
    require(raw is not None, f"no answer from 127.0.0.1:{port} to {str(payload)[:120]}")
    require(len(raw) <= 1024, f"answer is {len(raw)} bytes, more than 1024")
    try:
        return json.loads(raw)
    except ValueError:
        raise CheckFailed(f"answer is not JSON: {raw[:200]!r}")


def seed_download(port, name, timeout=DEFAULT_TIMEOUT, send_bytes=None):
    """A seed-form client: connect, send the bare name in one send, read to EOF."""
    deadline = time.monotonic() + budget(timeout)
    with socket.create_connection((HOST, port), timeout=budget(timeout)) as s:
        s.sendall(send_bytes if send_bytes is not None else name.encode())
        chunks = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CheckFailed(f"download of {name!r} from port {port} not finished after {timeout}s")
            s.settimeout(left)
            try:
                block = s.recv(1 << 20)
            except socket.timeout:
                continue
            except ConnectionResetError:
                break
            if not block:
                break
            chunks.append(block)
    return b"".join(chunks)


def _serve_in_background(server):
    """Gives a test server a listening socket on 127.0.0.1 (a port of the
    kernel's choosing, in server.port) and a thread that accepts connections
    until server._stop is set, handing each to server._accepted(conn)."""
    server._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server._sock.bind((HOST, 0))
    server._sock.listen(64)
    server._sock.settimeout(0.5)
    server.port = server._sock.getsockname()[1]
    _closers.append(server.close)

    def accept_loop():
        while not server._stop.is_set():
            try:
                conn, _ = server._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            server._accepted(conn)

    threading.Thread(target=accept_loop, daemon=True).start()


class SeedServer:
    """A seed peer's TCP side: reads the wanted name with one recv(1024) and,
    when it has that exact name, answers according to `mode`:

    full        send the whole file, close
    empty       close without sending anything
    half_close  send the first half, close
    half_stall  send the first half, then hold the connection open until close()
    flood       send the whole file, then `extra` bytes of zeros, close
    drip        send the file one byte every `drip` seconds (for 60 s at most)
    """

    def __init__(self, files=None, mode="full", extra=0, drip=0.1):
        self.files = dict(files or {})
        self.mode = mode
        self.extra = extra
        self.drip = drip
        self.requests = []
        self.half_sent = threading.Event()
        self._stop = threading.Event()
        _serve_in_background(self)

    def _accepted(self, conn):
        threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(10)
            data = conn.recv(1024)
            if not data:
                return
            name = data.decode("utf-8", "replace")
            self.requests.append(name)
            content = self.files.get(name)
            if content is None:
                return
            conn.settimeout(60)
            half = content[: len(content) // 2]
            if self.mode == "full":
                conn.sendall(content)
            elif self.mode == "half_close":
                conn.sendall(half)
                self.half_sent.set()
            elif self.mode == "half_stall":
                conn.sendall(half)
                self.half_sent.set()
                self._stop.wait(120)
            elif self.mode == "flood":
                conn.sendall(content)
                zeros = bytes(1 << 16)
                left = self.extra
                while left > 0 and not self._stop.is_set():
                    conn.sendall(zeros[:min(left, len(zeros))])
                    left -= min(left, len(zeros))
            elif self.mode == "drip":
                end = time.monotonic() + 60
                for i in range(len(content)):
                    if time.monotonic() > end or self._stop.wait(self.drip):
                        break
                    conn.sendall(content[i:i + 1])
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self._stop.set()
        try:
            self._sock.close()
        except OSError:
            pass


class SeedPeer:
    """A python imitation of a seed peer: one UDP socket for all its requests
    to the tracker (seed forms only, peer_id as given) and a SeedServer."""

    def __init__(self, tracker_port, peer_id, files=None, mode="full"):
        self.tracker_port = tracker_port
        self.peer_id = peer_id
        self.server = SeedServer(files, mode)
        self.port = self.server.port
        self.sock = udp_socket()
        self.udp_port = self.sock.getsockname()[1]

    def ask(self, obj, timeout=3.0):
        return udp_ask_json(self.tracker_port, obj, timeout, self.sock)

    def join(self, names=()):
        return self.ask({"action": "join", "peer_id": self.peer_id, "files": list(names),
                         "tcp_port": self.port})

    def share(self, name):
        return self.ask({"action": "share_file", "peer_id": self.peer_id, "file": name})

    def get_peers(self, name):
        return self.ask({"action": "get_peers", "peer_id": self.peer_id, "file_name": name})

    def got_the_file(self, name):
        return self.ask({"action": "got_the_file", "peer_id": self.peer_id, "file_name": name})

    def leave(self):
        return self.ask({"action": "leave", "peer_id": self.peer_id})


class SeedTracker:
    """A python imitation of the seed tracker: the five actions with the
    seed's answers, and no answer where the seed sends none (unknown peer on
    got_the_file or leave, unknown action, bad JSON). Whatever would have
    broken the seed (a missing or mistyped field) is noted in .problems."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.problems = []
        self.peers = {}  # peer_id -> (ip, tcp_port)
        self.files = {}  # name -> [peer_id] in registration order
        self._stop = threading.Event()
        _closers.append(self.close)
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            answer = self._handle(data, addr)
            if answer is not None:
                self.sock.sendto(json.dumps(answer).encode(), addr)

    def _field(self, msg, name, kind):
        value = msg.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            self.problems.append(f"{msg.get('action')}: field {name!r} is {value!r}")
            return None
        return value

    def _handle(self, data, addr):
        try:
            msg = json.loads(data.decode("utf-8"))
        except ValueError:
            self.problems.append(f"not JSON: {data[:100]!r}")
            return None
        if not isinstance(msg, dict):
            self.problems.append(f"not an object: {msg!r}")
            return None
        self.requests.append(msg)
        action = msg.get("action")
        pid = msg.get("peer_id")
        if not isinstance(pid, (str, int)):
            self.problems.append(f"{action}: peer_id is {pid!r}")
            return None
        if action == "join":
            port = self._field(msg, "tcp_port", int)
            files = self._field(msg, "files", list)
            if port is None or files is None:
                return None
            if not all(isinstance(f, str) for f in files):
                self.problems.append(f"join: files are {files!r}")
                return None
            self.peers[pid] = (addr[0], port)
            for f in files:
                self.files.setdefault(f, []).append(pid)
            return {"status": "ok"}
        if action in ("share_file", "got_the_file"):
            name = self._field(msg, "file" if action == "share_file" else "file_name", str)
            if name is None:
                return None
            if pid not in self.peers:
                return {"status": "error", "message": "Peer not found"} if action == "share_file" else None
            self.files.setdefault(name, []).append(pid)
            return {"status": "ok"}
        if action == "get_peers":
            name = self._field(msg, "file_name", str)
            if name is None:
                return None
            ids = [p for p in self.files.get(name, []) if p != pid and p in self.peers]
            return {"peers": [list(self.peers[p]) for p in ids]}
        if action == "leave":
            if pid not in self.peers:
                return None
            del self.peers[pid]
            for holders in self.files.values():
                while pid in holders:
                    holders.remove(pid)
            return {"status": "ok"}
        return None  # the seed ignores what it does not know

    def wait_request(self, pred, timeout=DEFAULT_TIMEOUT, what="request"):
        return wait_for(lambda: next((r for r in list(self.requests) if pred(r)), None),
                        timeout, what)

    def close(self):
        self._stop.set()
        try:
            self.sock.close()
        except OSError:
            pass


def peer_list(answer):
    """The `peers` of a get_peers answer as a list of (ip, port) tuples."""
    require(isinstance(answer, dict) and isinstance(answer.get("peers"), list),
            f"not a get_peers answer: {answer!r}")
    out = []
    for entry in answer["peers"]:
        require(isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                and isinstance(entry[1], int), f"bad peers entry {entry!r}")
        out.append((entry[0], entry[1]))
    return out


def is_error(answer):
    return (isinstance(answer, dict) and answer.get("status") == "error"
            and isinstance(answer.get("message"), str) and answer["message"] != "")


# ---------------------------------------------------------------- cleanup


def cleanup():
    for p in reversed(_procs):
        try:
            p.stop()
        except Exception:
            pass
    for close in _closers:
        try:
            close()
        except Exception:
            pass
    if _keep:
        if _dirs:
            print(f"# kept temp dirs: {' '.join(_dirs)}", file=sys.stderr)
        return
    for d in _dirs:
        shutil.rmtree(d, ignore_errors=True)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


atexit.register(cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


# ---------------------------------------------------------------- control plane: loss, restarts, extended clients
# (used by test_lossy, test_liveness, test_restart, test_ownership)


def start_tracker_at(tt, port, cwd=None, extra=(), name="tracker", tries=10):
    """Start `tt tracker --port PORT` on a given port: a restarted tracker taking
    over the port its predecessor printed. Retries a few times while the port
    is still busy; returns the Proc with .port, .dir and .log_path set."""
    cwd = cwd or tempdir("tracker")
    last = None
    for _ in range(tries):
        p = Proc([tt, "tracker", "--host", HOST, "--port", str(port), *extra], cwd, name)
        try:
            p.expect_line(f"Tracker started at {HOST}:{port}", timeout=5.0)
        except ExpectTimeout as exc:
            last = exc
            p.stop()
            time.sleep(0.3)
            continue
        p.port = port
        p.dir = cwd
        p.log_path = os.path.join(cwd, ".tracker.log")
        p.expect_line(f"Tracker running at {HOST}:{port}")
        return p
    raise CheckFailed(f"cannot start a tracker on port {port}: {last}")


def udp_socket_on(ip):
    """A UDP socket bound to `ip` (any 127.x address works as a source on Linux)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 0))
    _closers.append(s.close)
    return s


def tcp_listener():
    """A bare listening TCP socket on 127.0.0.1 (never accepts: the kernel completes
    connects, enough for a tracker's liveness probe). Returns the socket; .close()
    it to make the port refuse connections."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    s.listen(256)
    _closers.append(s.close)
    return s


def recv_answer(sock, timeout=3.0):
    """The next datagram on sock (bytes), or None within timeout."""
    sock.settimeout(budget(timeout))
    try:
        data, _ = sock.recvfrom(65535)
        return data
    except socket.timeout:
        return None


class ExtClient:
    """A python client that speaks the extended control plane ("v":1, seq, token)
    from one UDP socket of its own. Nothing is retransmitted: each call sends one
    datagram and returns (answer object or None, raw bytes or None)."""

    def __init__(self, tracker_port, peer_id, tcp_port=None, sock=None):
        self.tracker_port = tracker_port
        self.peer_id = peer_id
        self.tcp_port = tcp_port
        self.sock = sock or udp_socket()
        self.udp_port = self.sock.getsockname()[1]
        self.seq = 1000
        self.token = None
        self.interval = None

    def request(self, action, token="own", extended=True, timeout=3.0, **fields):
        """Send one request. token: "own" (the join's token, if any), None (no
        token field) or a string to send as is. Returns (answer, raw)."""
        msg = {"action": action, "peer_id": self.peer_id, **fields}
        if extended:
            self.seq += 1
            msg["v"] = 1
            msg["seq"] = self.seq
            tok = self.token if token == "own" else token
            if tok is not None:
                msg["token"] = tok
        raw = udp_ask(self.tracker_port, msg, timeout, self.sock)
        if raw is None:
            return None, None
        try:
            return json.loads(raw), raw
        except ValueError:
            raise CheckFailed(f"answer to {action} is not JSON: {raw[:200]!r}")

    def join(self, files=(), **kw):
        answer, raw = self.request("join", token=None, files=list(files), tcp_port=self.tcp_port, **kw)
        if isinstance(answer, dict) and answer.get("status") == "ok":
            self.token = answer.get("token")
            self.interval = answer.get("interval")
        return answer, raw


class LossyRelay:
    """A UDP relay between clients and a tracker that drops a share of the
    datagrams each way (one random.Random per direction, fixed seeds). Each
    client address gets its own upstream socket, so the tracker sees a distinct
    source port per client and answers go back to the client from the relay's
    port. Counters: passed_up/dropped_up (client -> tracker) and
    passed_down/dropped_down (tracker -> client)."""

    def __init__(self, target_port, drop=0.2, seed=1):
        import random
        import selectors
        self.target = (HOST, target_port)
        self.drop = drop
        self._rng_up = random.Random(seed)
        self._rng_down = random.Random(seed + 1)
        self.passed_up = self.dropped_up = self.passed_down = self.dropped_down = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self._up = {}    # client address -> upstream socket
        self._down = {}  # upstream socket -> client address
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.sock, selectors.EVENT_READ)
        self._stop = threading.Event()
        _closers.append(self.close)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def clients(self):
        return len(self._up)

    def _upstream(self, addr):
        import selectors
        s = self._up.get(addr)
        if s is None:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((HOST, 0))
            s.setblocking(False)
            self._up[addr] = s
            self._down[s] = addr
            self._sel.register(s, selectors.EVENT_READ)
        return s

    def _loop(self):
        while not self._stop.is_set():
            try:
                events = self._sel.select(0.2)
            except (OSError, ValueError):
                return
            for key, _ in events:
                s = key.fileobj
                try:
                    data, addr = s.recvfrom(65535)
                except (BlockingIOError, InterruptedError, ConnectionRefusedError):
                    continue
                except OSError:
                    if self._stop.is_set():
                        return
                    continue
                try:
                    if s is self.sock:
                        up = self._upstream(addr)
                        if self._rng_up.random() < self.drop:
                            self.dropped_up += 1
                        else:
                            self.passed_up += 1
                            up.sendto(data, self.target)
                    else:
                        if self._rng_down.random() < self.drop:
                            self.dropped_down += 1
                        else:
                            self.passed_down += 1
                            self.sock.sendto(data, self._down[s])
                except OSError:
                    pass  # a client or the tracker gone: the datagram is lost

    def stats(self):
        return (f"relay: client->tracker {self.passed_up} passed, {self.dropped_up} dropped; "
                f"tracker->client {self.passed_down} passed, {self.dropped_down} dropped; "
                f"{self.clients()} client addresses")

    def close(self):
        self._stop.set()
        self._thread.join(1.0)
        for s in [self.sock, *self._up.values()]:
            try:
                s.close()
            except OSError:
                pass
        try:
            self._sel.close()
        except (OSError, ValueError):
            pass


# ---------------------------------------------------------------- data plane: manifests, extended-form sources
# (used by test_swarm, test_resume, test_corrupt_source, test_seed_source)

MIN_PIECE_SIZE = 256 * 1024
MAX_PIECE_SIZE = 16 << 20
MAX_PIECES_WANTED = 1024


def piece_size_for(size):
    """tt's piece size for a file of `size` bytes: a power of two from 256 KiB
    up, the smallest that keeps the file at most 1024 pieces (16 MiB at most)."""
    ps = MIN_PIECE_SIZE
    while ps < MAX_PIECE_SIZE and (size + ps - 1) // ps > MAX_PIECES_WANTED:
        ps <<= 1
    return ps


class Content:
    """A file's bytes with the manifest and content id tt computes for them: the
    id is the SHA-256 of {"piece_size":N,"pieces":["hex",...],"size":N} (no
    spaces, name excluded)."""

    def __init__(self, data, piece_size=None):
        self.data = data
        self.size = len(data)
        self.sha = sha256(data)
        self.piece_size = piece_size or piece_size_for(self.size)
        self.count = (self.size + self.piece_size - 1) // self.piece_size
        self.pieces = [sha256(self.piece(i)) for i in range(self.count)]
        canonical = '{"piece_size":%d,"pieces":[%s],"size":%d}' % (
            self.piece_size, ",".join(f'"{h}"' for h in self.pieces), self.size)
        self.id = sha256(canonical.encode())

    def piece(self, i):
        return self.data[i * self.piece_size:(i + 1) * self.piece_size]

    def piece_len(self, i):
        return len(self.piece(i))

    def manifest(self, name):
        return {"name": name, "size": self.size, "piece_size": self.piece_size,
                "pieces": list(self.pieces)}

    def verified_in(self, path):
        """Indices of the pieces that are present and hash right in the file at
        `path` (a .tt-part-* file, say); [] when it does not exist."""
        good = []
        try:
            with open(path, "rb") as f:
                for i in range(self.count):
                    f.seek(i * self.piece_size)
                    if sha256(f.read(self.piece_len(i))) == self.pieces[i]:
                        good.append(i)
        except OSError:
            return []
        return good


def part_name(cid):
    """The name of the part file a download of content id `cid` goes to."""
    return ".tt-part-" + cid[:16]


def part_files(d):
    """Part files (.tt-part-*) in directory d."""
    return sorted(n for n in os.listdir(d) if n.startswith(".tt-part-"))


def tt_id(tt, path):
    """`tt id PATH`: returns (id, size, piece_size)."""
    res = run([tt, "id", path])
    require(res.returncode == 0, f"tt id {path} failed ({res.returncode}): {res.stderr.strip()}")
    fields = res.stdout.split()
    require(len(fields) >= 4, f"tt id printed {res.stdout!r}")
    return fields[0], int(fields[1]), int(fields[2])


def bitfield_hex(indices, count):
    """The hex bitfield of a `have` answer: piece i is bit 7 - i%8 of byte i//8."""
    b = bytearray((count + 7) // 8)
    for i in indices:
        if 0 <= i < count:
            b[i // 8] |= 0x80 >> (i % 8)
    return b.hex()


def bitfield_indices(hexstr, count):
    """The piece indices set in a hex bitfield."""
    b = bytes.fromhex(hexstr)
    return [i for i in range(count) if i // 8 < len(b) and b[i // 8] & (0x80 >> (i % 8))]


class ExtServer:
    """A python source that speaks the extended TCP form (PROTOCOL §2): one
    thread per connection, pipelined requests answered in order. `files` maps
    names to Content. Options (for every file it serves):

    have      the piece indices it holds (None: all); `have` answers and piece
              requests follow it, other pieces get {"status":"error"}
    corrupt   piece indices (or "all") sent with their first byte flipped
    gate      None, or how many pieces it sends in all before holding every
              further piece answer until open_gate() (set_gate(n) allows n more)
    delay     seconds to wait before each piece answer
    manifest  a manifest object to send instead of the right one
    garbage   answer every request with a line that is not JSON
    seed_form serve a bare-name (seed-form) request with the whole file, when
              it holds every piece; otherwise such a request is just closed
    mid_pause seconds to pause in the middle of each piece's bytes
    drip      seconds between the bytes of each piece (a drip: one piece's
              bytes for 60 s at most, then the connection is closed)

    Records: accepted (connections so far), requests [(conn, action, index)],
    sent [(conn, index)] for each piece sent whole, with the conn number
    (1, 2, ...) of the connection."""

    def __init__(self, files, have=None, corrupt=(), gate=None, delay=0.0, manifest=None,
                 garbage=False, seed_form=False, mid_pause=0.0, drip=0.0):
        self.files = dict(files)
        self.mid_pause = mid_pause
        self.drip = drip
        self.have = None if have is None else set(have)
        self.corrupt = corrupt if corrupt == "all" else set(corrupt)
        self.delay = delay
        self.manifest_override = manifest
        self.garbage = garbage
        self.seed_form = seed_form
        self.accepted = 0
        self.requests = []
        self.sent = []
        self._gate = gate
        self._granted = 0
        self._waiting = 0
        self._cond = threading.Condition()
        self._conns = []
        self._stop = threading.Event()
        _serve_in_background(self)

    # -- the gate
    def set_gate(self, n):
        """Allow n more pieces from now on, then hold again."""
        with self._cond:
            self._gate = self._granted + n
            self._cond.notify_all()

    def open_gate(self):
        with self._cond:
            self._gate = None
            self._cond.notify_all()

    def granted(self):
        with self._cond:
            return self._granted

    def waiting_at_gate(self):
        """True once a piece answer is being held by the gate."""
        with self._cond:
            return self._waiting > 0

    def _pass_gate(self):
        with self._cond:
            self._waiting += 1
            while self._gate is not None and self._granted >= self._gate and not self._stop.is_set():
                self._cond.wait(0.2)
            self._waiting -= 1
            if self._stop.is_set():
                return False
            self._granted += 1
            return True

    def sent_on(self, conns):
        """Indices of pieces sent whole on the given connection numbers."""
        return [i for (n, i) in list(self.sent) if n in conns]

    # -- serving
    def _accepted(self, conn):
        self.accepted += 1
        self._conns.append(conn)
        threading.Thread(target=self._serve, args=(conn, self.accepted), daemon=True).start()

    def _serve(self, conn, no):
        buf = b""
        try:
            conn.settimeout(120)
            while not self._stop.is_set():
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                if not buf.startswith(b"{"):
                    self._serve_seed(conn, buf)
                    return
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not self._answer(conn, no, line):
                        return
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _serve_seed(self, conn, buf):
        content = self.files.get(buf.decode("utf-8", "replace"))
        if content is None or not self.seed_form:
            return
        if self.have is not None and len(self.have & set(range(content.count))) < content.count:
            return
        conn.sendall(content.data)

    def _error(self, conn, message):
        conn.sendall((json.dumps({"status": "error", "message": message}) + "\n").encode())
        return True

    def _answer(self, conn, no, line):
        """Answers one request line; False to end the connection."""
        if self.garbage:
            self.requests.append((no, "garbage", None))
            conn.sendall(b"this is not JSON at all\n")
            return True
        try:
            req = json.loads(line)
        except ValueError:
            return self._error(conn, "a request is one JSON object per line")
        if not isinstance(req, dict):
            return self._error(conn, "a request is one JSON object per line")
        action, name, index = req.get("action"), req.get("file"), req.get("index")
        self.requests.append((no, action, index))
        content = self.files.get(name)
        if content is None:
            return self._error(conn, f"no such file: {name}")
        holds = set(range(content.count)) if self.have is None else self.have
        if action == "manifest":
            m = self.manifest_override or content.manifest(name)
            conn.sendall((json.dumps({"status": "ok", "manifest": m}) + "\n").encode())
            return True
        if action == "have":
            conn.sendall((json.dumps({"status": "ok",
                                      "pieces": bitfield_hex(holds, content.count)}) + "\n").encode())
            return True
        if action != "piece":
            return self._error(conn, f"unknown action {action!r}")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < content.count:
            return self._error(conn, "bad index")
        if index not in holds:
            return self._error(conn, f"piece {index} is not here")
        if not self._pass_gate():
            return False
        if self.delay and self._stop.wait(self.delay):
            return False
        data = content.piece(index)
        if self.corrupt == "all" or index in self.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        head = json.dumps({"status": "ok", "index": index, "length": len(data)}) + "\n"
        if self.drip:
            conn.sendall(head.encode())
            end = time.monotonic() + 60
            for k in range(len(data)):
                if time.monotonic() > end or self._stop.wait(self.drip):
                    return False
                conn.sendall(data[k:k + 1])
        elif self.mid_pause:
            half = len(data) // 2
            conn.sendall(head.encode() + data[:half])
            if self._stop.wait(self.mid_pause):
                return False
            conn.sendall(data[half:])
        else:
            conn.sendall(head.encode() + data)
        self.sent.append((no, index))
        return True

    def close(self):
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for s in [self._sock, *self._conns]:
            try:
                s.close()
            except OSError:
                pass


class ExtSource:
    """An ExtServer registered at the tracker by an ExtClient (extended join,
    then share_file with size, id and complete). .server, .port, .client."""

    def __init__(self, tracker_port, peer_id, name, content, complete=True, announce=None,
                 **server_opts):
        self.server = ExtServer({name: content}, **server_opts)
        self.port = self.server.port
        self.peer_id = peer_id
        self.client = ExtClient(tracker_port, peer_id, tcp_port=self.port)
        answer, _ = self.client.join([])
        require(isinstance(answer, dict) and answer.get("status") == "ok",
                f"join of {peer_id}: {answer!r}")
        fields = {"file": name, "size": content.size, "id": content.id, "complete": complete}
        fields.update(announce or {})
        answer, _ = self.client.request("share_file", **fields)
        require(isinstance(answer, dict) and answer.get("status") == "ok",
                f"share_file of {peer_id}: {answer!r}")


class SeedFormSource:
    """A SeedServer (seed form only: it cannot send a manifest) registered at the
    tracker by an ExtClient with share_file, so that the tracker announces the
    `size` and `cid` given (None: not sent). .server, .port, .client."""

    def __init__(self, tracker_port, peer_id, name, data, size=None, cid=None, **server_opts):
        self.server = SeedServer({name: data}, **server_opts)
        self.port = self.server.port
        self.client = ExtClient(tracker_port, peer_id, tcp_port=self.port)
        answer, _ = self.client.join([])
        require(isinstance(answer, dict) and answer.get("status") == "ok",
                f"join of {peer_id}: {answer!r}")
        fields = {"file": name}
        if size is not None:
            fields["size"] = size
        if cid is not None:
            fields["id"] = cid
        answer, _ = self.client.request("share_file", **fields)
        require(isinstance(answer, dict) and answer.get("status") == "ok",
                f"share_file of {peer_id}: {answer!r}")


def ext_get_peers(client, name):
    """An extended get_peers from an ExtClient; returns the answer object."""
    answer, _ = client.request("get_peers", file_name=name)
    require(isinstance(answer, dict) and answer.get("status") == "ok",
            f"get_peers {name}: {answer!r}")
    return answer


class ExtConn:
    """A python client of the extended TCP form, for asking a tt peer directly."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection((HOST, port), timeout=budget(timeout))
        self.sock.settimeout(budget(timeout))
        _closers.append(self.close)
        self.buf = b""

    def send(self, obj):
        self.sock.sendall((json.dumps(obj) + "\n").encode())

    def _line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise CheckFailed(f"connection closed; unread {self.buf[:200]!r}")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            raise CheckFailed(f"answer line is not JSON: {line[:200]!r}")

    def _bytes(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(1 << 20)
            if not data:
                raise CheckFailed(f"connection closed after {len(self.buf)} of {n} bytes")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def ask(self, obj):
        """Sends one request; returns (answer line, piece bytes or None)."""
        self.send(obj)
        answer = self._line()
        data = None
        if answer.get("status") == "ok" and obj.get("action") == "piece":
            data = self._bytes(int(answer.get("length", 0)))
        return answer, data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
