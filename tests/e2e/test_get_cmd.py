#!/usr/bin/env python3
"""`tt get NAME|ID [--tracker HOST:PORT] [--dir DIR]`: one download, then exit.

A tracker and two tt peers sharing a.bin (1 MiB + 5) and b.bin (4 MiB, served
at --max-upload-rate 512K). `tt get` joins under an id of its own
(get-XXXXXXXX), downloads, leaves, and exits 0 with the file byte-identical;
a missing name exits 1 with one `tt: get NAME: ...` line on stderr and leaves
nothing in --dir; two at once from this host both work; a content id prefix
works; SIGTERM mid-way exits 1, names the `tt get` to run again (with its
--dir and --tracker), and that `tt get` resumes from the part file; --quiet
prints nothing on stdout; bad flags exit 2 with one line. A piped `tt peer` session with a failing share and a failing get keeps the seed
lines on stdout and writes `tt: share ...` and `tt: get ...` on stderr; with
--quiet, stdout stays empty.
"""

import os
import re
import shlex
import signal
from types import SimpleNamespace

from harness import (HOST, Content, Proc, Tap, absent, eq, part_files, part_name, require, run,
                     same_file, start_peer, start_sharer, start_tracker, tempdir, tt_path,
                     wait_for)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

ID_RE = r"get-[0-9a-f]{8}"


def tt_get(target, d, *extra, name="get"):
    """Starts `tt get TARGET` into directory d; returns the Proc."""
    argv = [tt, "get", target, "--tracker", f"{HOST}:{c.tracker.port}", "--dir", d,
            "--host", HOST, *extra]
    p = Proc(argv, d, name, stdin_devnull=True)
    t.watch(p)
    return p


def joined_id(p):
    return p.expect(rf"^Peer ({ID_RE}) joined the network on TCP port \d+$").group(1)


@t.setup("tracker, a sharer of a.bin and a rate-limited sharer of b.bin start")
def _():
    c.tracker = start_tracker(tt)
    t.watch(c.tracker)
    c.a = Content(os.urandom((1 << 20) + 5))
    c.b = Content(os.urandom(4 << 20))
    c.pa = start_sharer(tt, 1, c.tracker.port, "a.bin", c.a.data)
    c.pb = start_sharer(tt, 2, c.tracker.port, "b.bin", c.b.data,
                        extra=["--max-upload-rate", "512K"])
    t.watch(c.pa, c.pb)


@t.test("tt get a.bin: exit 0, byte-identical, 'Downloaded file a.bin successfully.', "
        "nothing on stderr", fatal=True)
def _():
    d = tempdir("get1")
    p = tt_get("a.bin", d)
    c.id1 = joined_id(p)
    p.expect_line("Downloaded file a.bin successfully.", timeout=30)
    eq(p.wait(30), 0, "exit code")
    same_file(os.path.join(d, "a.bin"), c.a.sha)
    eq(p.stderr_text(), "", "stderr")
    eq(sorted(os.listdir(d)), ["a.bin"], "files in --dir (no log, no token, no part file)")


@t.test("it left the network: the tracker printed 'Peer get-XXXXXXXX left the network.'")
def _():
    c.tracker.expect_line(f"Peer {c.id1} left the network.")


@t.test("tt get of a missing name: exit 1, one stderr line 'tt: get nope.bin: ...', "
        "nothing left in --dir, left the network")
def _():
    d = tempdir("get-missing")
    p = tt_get("nope.bin", d)
    pid = joined_id(p)
    eq(p.wait(30), 1, "exit code")
    eq(p.stderr_lines(), ["tt: get nope.bin: No peers found with file nope.bin"], "stderr")
    eq(os.listdir(d), [], "files in --dir")
    c.tracker.expect_line(f"Peer {pid} left the network.")


@t.test("two tt get at once from this host: both exit 0 with their own ids and identical copies")
def _():
    dirs = [tempdir("par1"), tempdir("par2")]
    procs = [tt_get("a.bin", d, name=f"par{i}") for i, d in enumerate(dirs)]
    codes = [p.wait(40) for p in procs]
    eq(codes, [0, 0], "exit codes")
    ids = [joined_id(p) for p in procs]
    require(ids[0] != ids[1], f"both joined as {ids[0]}")
    for d in dirs:
        same_file(os.path.join(d, "a.bin"), c.a.sha)


@t.test("tt get by a 10-hex-digit content id prefix saves a.bin under its name, exit 0")
def _():
    d = tempdir("get-id")
    p = tt_get(c.a.id[:10], d)
    eq(p.wait(30), 0, "exit code")
    same_file(os.path.join(d, "a.bin"), c.a.sha)
    absent(d, c.a.id[:10])


@t.test("--quiet: nothing on stdout, nothing on stderr, exit 0, the file in place")
def _():
    d = tempdir("get-quiet")
    p = tt_get("a.bin", d, "--quiet")
    eq(p.wait(30), 0, "exit code")
    p.settle(0.2)
    eq(p.output(), "", "stdout")
    eq(p.stderr_text(), "", "stderr")
    same_file(os.path.join(d, "a.bin"), c.a.sha)


@t.test("SIGTERM mid-way: exit 1, 'tt: get b.bin: interrupted...', nothing under b.bin, "
        "the part file keeps verified pieces", fatal=True)
def _():
    c.bdir = tempdir("get-resume")
    p = tt_get("b.bin", c.bdir)
    part = os.path.join(c.bdir, part_name(c.b.id))
    wait_for(lambda: len(c.b.verified_in(part)) >= 2, timeout=30,
             what="2 verified pieces in the part file")
    p.signal(signal.SIGTERM)
    eq(p.wait(15), 1, "exit code")
    require(any(line.startswith("tt: get b.bin: interrupted") for line in p.stderr_lines()),
            f"stderr: {p.stderr_text()!r}")
    # The line on stdout names the tt get that resumes, as a shell reads it.
    m = re.search(r"^Interrupted: \d+ of \d+ pieces of b\.bin are kept in .+; run '(.+)' again "
                  r"to resume\.$", p.output(), re.M)
    require(m, f"no 'Interrupted: ...' line: {p.output()!r}")
    eq(shlex.split(m.group(1)),
       ["tt", "get", "b.bin", "--dir", c.bdir, "--tracker", f"{HOST}:{c.tracker.port}"],
       "the command to run again")
    absent(c.bdir, "b.bin")
    c.kept = len(c.b.verified_in(part))
    require(0 < c.kept < c.b.count, f"{c.kept} of {c.b.count} pieces kept")


@t.test("the same tt get again resumes ('Resuming b.bin: K of 16 pieces already here'), "
        "exit 0, byte-identical, no part file left")
def _():
    p = tt_get("b.bin", c.bdir, name="resume")
    m = p.expect(rf"^Resuming b\.bin: (\d+) of {c.b.count} pieces already here$", timeout=30)
    require(int(m.group(1)) >= c.kept, f"resumed {m.group(1)}, {c.kept} were kept")
    eq(p.wait(60), 0, "exit code")
    same_file(os.path.join(c.bdir, "b.bin"), c.b.sha)
    eq(part_files(c.bdir), [], "part files")


@t.test("a name with two contents: tt get lists them, exits 1 with 'tt: get dup.bin: the name "
        "matches 2 contents; get one by its id ...', and nothing is downloaded")
def _():
    x, y = Content(os.urandom(1000)), Content(os.urandom(2000))
    c.px = start_sharer(tt, 3, c.tracker.port, "dup.bin", x.data)
    c.py = start_sharer(tt, 4, c.tracker.port, "dup.bin", y.data)
    t.watch(c.px, c.py)
    d = tempdir("get-dup")
    p = tt_get("dup.bin", d)
    p.expect_line("The name dup.bin matches 2 contents:")
    ids = sorted(p.expect(r"^[12]: id ([0-9a-f]{16})  ").group(1) for _ in range(2))
    eq(ids, sorted([x.id[:16], y.id[:16]]), "listed ids")
    eq(p.wait(30), 1, "exit code")
    lines = p.stderr_lines()
    require(len(lines) == 1 and re.match(r"^tt: get dup\.bin: the name matches 2 contents; get "
                                         r"one by its id \(e\.g\. get [0-9a-f]{16}\)$", lines[0]),
            f"stderr: {lines!r}")
    eq(os.listdir(d), [], "files in --dir")
    q = tt_get(y.id[:8], d, "--quiet", name="get-dup-id")
    eq(q.wait(30), 0, "exit code of tt get by the id prefix")
    same_file(os.path.join(d, "dup.bin"), y.sha)


@t.test("bad usage exits 2 with exactly one line on stderr naming the problem")
def _():
    d = tempdir("get-bad")
    port = str(c.tracker.port)
    cases = [
        (["a.bin", "--bogus"], "--bogus"),
        (["a.bin", "--sources", "0"], "--sources"),
        (["a.bin", "--quiet=yes"], "--quiet"),
        (["a.bin", "--dir", os.path.join(d, "nowhere")], "--dir"),
        (["a.bin", "--tracker", "nohost"], "--tracker"),
        ([], "which file"),
        (["a.bin", "b.bin"], "one file"),
        (["../a.bin"], "bad name"),
    ]
    for args, word in cases:
        argv = [tt, "get", *args]
        if "--tracker" not in args:
            argv += ["--tracker", f"{HOST}:{port}"]
        res = run(argv, cwd=d)
        eq(res.returncode, 2, f"exit code of {args!r}")
        lines = res.stderr.splitlines()
        require(len(lines) == 1 and lines[0].startswith("tt get") and word in lines[0],
                f"{args!r}: stderr {res.stderr!r}")
        eq(res.stdout, "", f"stdout of {args!r}")
    eq(os.listdir(d), [], "files in the cwd")


@t.test("a piped peer session: a failing share and a failing get keep the seed lines on "
        "stdout and write 'tt: share notes.txt: ...' and 'tt: get ghost.bin: ...' on stderr")
def _():
    p = start_peer(tt, 9, c.tracker.port)
    t.watch(p)
    missing = os.path.join(p.dir, "notes.txt")
    p.send("share notes.txt")
    p.send("get ghost.bin")
    p.close_stdin()
    eq(p.wait(30), 1, "exit code")
    out = p.lines()
    require(f"File {missing} does not exist" in out, f"stdout: {out!r}")
    require("No peers found with file ghost.bin" in out, f"stdout: {out!r}")
    require(not any(line.startswith("tt: ") for line in out), f"tt: lines on stdout: {out!r}")
    eq(p.stderr_lines(), [f"tt: share notes.txt: File {missing} does not exist",
                          "tt: get ghost.bin: No peers found with file ghost.bin"], "stderr")



@t.test("tt peer --quiet, piped: nothing on stdout; the share works (the tracker hears of it) "
        "and the failing one is one 'tt: share ...' line on stderr; exit 1")
def _():
    d = tempdir("quiet-peer")
    with open(os.path.join(d, "ok.txt"), "wb") as f:
        f.write(b"quiet\n")
    p = Proc([tt, "peer", "--id", "10", "--tracker", f"{HOST}:{c.tracker.port}", "--dir", d,
              "--host", HOST, "--port", "0", "--quiet"], d, "quiet-peer")
    t.watch(p)
    p.send("share ok.txt")
    p.send("share gone.txt")
    p.close_stdin()
    eq(p.wait(30), 1, "exit code")
    c.tracker.expect_line("Peer 10 updated files: ok.txt")
    eq(p.output(), "", "stdout")
    eq(p.stderr_lines(), [f"tt: share gone.txt: File {d}/gone.txt does not exist"], "stderr")


t.done()
