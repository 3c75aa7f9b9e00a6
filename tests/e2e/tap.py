"""TAP reporting: the `Tap` reporter that runs each check (`t.test`) and each
set-up step (`t.setup`), numbers the checks, and ends the file with the plan
line and an exit code. Only checks are TAP test points; a set-up step that
works is a `# setup:` comment, one that fails is a `not ok` and skips the rest.
"""

import signal
import sys
import traceback

from checks import HARD_LIMIT, CheckFailed, ExpectTimeout


class Tap:
    """TAP reporter. Each check is a function run at once by the decorator:

        @t.test("peer 1 shares example.txt")
        def _():
            p1.send("share example.txt")
            p1.expect_line("Peer 1 shared a new files: example.txt")

    An exception inside makes the check `not ok` with diagnostics. After a
    fatal check fails, the remaining checks are reported as skipped.

    Set-up (starting a tracker, making a file, sharing it) is not a check and
    is not counted as one:

        @t.setup("tracker starts")
        def _():
            c.tracker = start_tracker(tt)

    prints `# setup: tracker starts` when it works; when it fails it is one
    `not ok` (the file fails) and every later check is skipped.
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
                self._failed(desc, exc)
                if fatal:
                    self.skip_reason = f"after the fatal failure of check {self.count}"
                return None
            self.ok(True, desc)
            return result

        return run

    def setup(self, desc):
        """Run the decorated function as a set-up step: a TAP comment when it
        works, a failed test point (and every later check skipped) when not."""
        def run(fn):
            if self.skip_reason:
                self.diag(f"setup skipped: {desc} ({self.skip_reason})")
                return None
            try:
                result = fn()
            except Exception as exc:  # a failed set-up is a failure of the file
                self._failed(f"setup: {desc}", exc)
                self.skip_reason = f"after the failed set-up step {desc!r}"
                return None
            self.diag(f"setup: {desc}")
            return result

        return run

    def _failed(self, desc, exc):
        self.ok(False, desc)
        if isinstance(exc, (CheckFailed, ExpectTimeout)):
            self.diag(str(exc))
        else:
            self.diag("".join(traceback.format_exception(exc)).rstrip())
        self._dump_watched()

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
