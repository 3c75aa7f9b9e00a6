"""Processes, temporary directories and cleanup.

`Proc` runs a program with a reader thread collecting its stdout (a pipe or
a pty) and its stderr in a file; `expect`/`expect_line` match complete lines
in order, `expect_raw` matches prompts. `run` runs a short command to its
end. Everything started here is killed by PID at exit, every socket or
server registered with `on_cleanup` is closed, and every directory made by
`tempdir` is removed (set TT_E2E_KEEP=1 to keep them for a look).
"""

import atexit
import codecs
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from checks import DEFAULT_TIMEOUT, CheckFailed, ExpectTimeout, budget, wait_for


_procs = []
_dirs = []
_closers = []
_keep = os.environ.get("TT_E2E_KEEP") == "1"


def on_cleanup(close):
    """Call close() at exit, after every started process is stopped."""
    _closers.append(close)


def tempdir(tag="tmp"):
    d = os.path.realpath(tempfile.mkdtemp(prefix=f"tt-e2e-{tag}-"))
    _dirs.append(d)
    return d


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
