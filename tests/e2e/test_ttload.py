#!/usr/bin/env python3
"""The benchmark tools tests/bench/ttload (scripts/bench.sh tracker, memory,
share) and tests/bench/handlerbench (scripts/bench.sh instr): ttload's flags,
the null responder, a short mixed load against a real tracker (every answer
matched, no errors, get_peers answers list peers, the tracker's CPU time read),
a small fill; handlerbench's two request kinds. Short runs only: this checks
that the tools work, not how fast."""

import os
import re
import signal
import sys

from harness import Proc, Tap, eq, require, run, start_tracker, tempdir, tt_path

tt = tt_path()
ttload = os.path.abspath(sys.argv[2])
handlerbench = os.path.abspath(sys.argv[3])
t = Tap()


def result(res):
    m = re.search(r"^ttload: window=.*$", res.stdout, re.M)
    require(res.returncode == 0 and m, f"exit {res.returncode}: {res.stdout!r} {res.stderr!r}")
    return {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", m.group(0))}


@t.test("'ttload --help' exits 0; a bad flag is one line on stderr and exit 2")
def _():
    eq(run([ttload, "--help"]).returncode, 0, "--help exit code")
    res = run([ttload, "load", "--server", "127.0.0.1:9", "--window", "0", "--duration", "1"])
    eq(res.returncode, 2, "exit code")
    eq(res.stderr.count("\n"), 1, f"one line on stderr: {res.stderr!r}")


@t.test("the null responder answers a load run (15 bytes, or padded) and exits on SIGTERM")
def _():
    null = Proc([ttload, "null", "--port", "0"], tempdir("null"), "null")
    port = null.expect(r"^listening on 127\.0\.0\.1:(\d+)$").group(1)
    r = result(run([ttload, "load", "--server", f"127.0.0.1:{port}", "--window", "4",
                    "--duration", "0.5", "--warmup", "0.1", "--peers", "20", "--files", "20"]))
    require(r["answered"] > 0 and r["lost"] == 0 and r["errors"] == 0, f"result {r}")
    eq(r["answer_bytes"], 15, "answer size")
    null.signal(signal.SIGTERM)
    eq(null.wait(), 0, "null exit code")
    # Padded answers, as long as asked; still matched and not errors.
    null = Proc([ttload, "null", "--port", "0", "--answer-bytes", "500"], tempdir("null"), "null")
    port = null.expect(r"^listening on 127\.0\.0\.1:(\d+)$").group(1)
    r = result(run([ttload, "load", "--server", f"127.0.0.1:{port}", "--window", "2",
                    "--duration", "0.3", "--warmup", "0.1", "--peers", "10", "--files", "10"]))
    require(r["answered"] > 0 and r["errors"] == 0 and r["answer_bytes"] == 500, f"result {r}")
    null.signal(signal.SIGTERM)
    eq(null.wait(), 0, "null exit code")
    # The shortest padded answer, {"status":"ok","pad":""}, is 24 bytes.
    eq(run([ttload, "null", "--port", "0", "--answer-bytes", "23"]).returncode, 2, "too short")


@t.test("a mixed load against tt tracker: answers matched, no errors, peers listed")
def _():
    tr = start_tracker(tt)
    t.watch(tr)
    r = result(run([ttload, "load", "--server", f"127.0.0.1:{tr.port}", "--window", "4",
                    "--duration", "0.5", "--warmup", "0.1", "--peers", "40", "--files", "30",
                    "--mix", "get_peers=70,heartbeat=15,share_file=10,join=5",
                    "--server-pid", str(tr.popen.pid)]))
    require(r["answered"] > 100 and r["errors"] == 0 and r["nopeers"] == 0 and r["lost"] == 0,
            f"result {r}")
    # The tracker did the answering: it used CPU time, at most one CPU's worth.
    require(0 < r["server_cpu"] <= 1.1 and r["server_us"] > 0 and 0 < r["load_cpu"] <= 1.1,
            f"CPU figures {r}")
    res = run([ttload, "fill", "--server", f"127.0.0.1:{tr.port}", "--peers", "200",
               "--files-per-peer", "5", "--files", "100"])
    eq(res.returncode, 0, f"fill exit code ({res.stderr!r})")
    require(re.match(r"^ttload: registered 200 peers, 1000 registrations in [0-9.]+ s$",
                     res.stdout), res.stdout)
    tr.send("exit")
    eq(tr.wait(), 0, "tracker exit code")


@t.test("handlerbench: get_peers answers list the holders; joins; bad arguments exit 2")
def _():
    res = run([handlerbench, "get_peers", "200", "--peers", "100", "--files", "10"])
    eq(res.returncode, 0, f"exit code ({res.stderr!r})")
    m = re.match(r"^handlerbench: 200 get_peers requests, (\d+) answer bytes each$", res.stdout)
    require(m, res.stdout)
    # 10 holders per file, listed twice (peers and sources): hundreds of bytes.
    require(int(m.group(1)) > 500, res.stdout)
    res = run([handlerbench, "join", "50"])
    eq(res.returncode, 0, f"exit code ({res.stderr!r})")
    require(res.stdout.startswith("handlerbench: 50 join requests"), res.stdout)
    for bad in (["leave", "5"], ["join", "x"], ["join", "5", "--peers"], ["join", "5", "--nope", "1"]):
        res = run([handlerbench] + bad)
        eq(res.returncode, 2, f"exit code for {bad}")
        eq(res.stderr.count("\n"), 1, f"one line on stderr for {bad}: {res.stderr!r}")


t.done()
