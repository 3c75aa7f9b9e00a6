#!/usr/bin/env python3
"""Command line flags, exit codes, and how the processes start and stop:
--help, --version, bad flags (usage, exit 2), a tracker that does not answer,
--log, the tracker console's help/exit, end of stdin, SIGTERM and SIGINT."""

import json
import os
import signal
import subprocess
import time
from types import SimpleNamespace

from harness import (HOST, Proc, Tap, eq, log_messages, require, run, start_peer, start_tracker,
                     tempdir, tt_path, udp_ask, udp_socket)

tt = tt_path()
t = Tap()
c = SimpleNamespace()


def show(res):
    return f"exit {res.returncode}; stdout {res.stdout[-300:]!r}; stderr {res.stderr[-300:]!r}"


@t.test("'tt --help' exits 0 and describes the tracker and peer subcommands")
def _():
    res = run([tt, "--help"])
    eq(res.returncode, 0, f"exit code ({show(res)})")
    text = res.stdout + res.stderr
    require("tracker" in text and "peer" in text, f"help text: {text[:300]!r}")


@t.test("'tt --version' exits 0 and prints a version")
def _():
    res = run([tt, "--version"])
    eq(res.returncode, 0, f"exit code ({show(res)})")
    require((res.stdout + res.stderr).strip(), "printed nothing")


@t.test("'tt peer' without --id, stdin not a terminal: error, exit 2")
def _():
    for stdin in (subprocess.DEVNULL, subprocess.PIPE):
        res = run([tt, "peer", "--tracker", f"{HOST}:9"], stdin=stdin)
        eq(res.returncode, 2, f"exit code ({show(res)})")
        require(res.stderr.strip(), "no error message on stderr")


@t.test("'tt tracker --bogus' prints usage and exits 2")
def _():
    res = run([tt, "tracker", "--bogus"])
    eq(res.returncode, 2, f"exit code ({show(res)})")
    require("usage" in (res.stdout + res.stderr).lower(), show(res))


@t.test("'tt peer --id 1 --port notaport' exits 2")
def _():
    res = run([tt, "peer", "--id", "1", "--port", "notaport"])
    eq(res.returncode, 2, f"exit code ({show(res)})")


@t.test("'tt tracker --port 70000' and 'tt peer --id 1 --tracker nohostport' exit 2")
def _():
    for argv in ([tt, "tracker", "--port", "70000"], [tt, "peer", "--id", "1", "--tracker", "nohostport"]):
        res = run(argv)
        eq(res.returncode, 2, f"exit code of {argv[1:]} ({show(res)})")


@t.test("'tt peer' rate flags: bad values exit 2 with a one-line reason; --help lists both")
def _():
    for bad in ("2G", "-1", "1.5M", "", "M", "99999999999999"):
        for flag in ("--max-upload-rate", "--max-download-rate"):
            res = run([tt, "peer", "--id", "1", flag, bad])
            eq(res.returncode, 2, f"exit code of {flag} {bad!r} ({show(res)})")
            first = res.stderr.splitlines()[0] if res.stderr else ""
            require(flag in first, f"{flag} {bad!r}: first stderr line {first!r}")
    res = run([tt, "peer", "--help"])
    for flag in ("--max-upload-rate", "--max-download-rate"):
        require(flag in res.stdout, f"{flag} missing from 'tt peer --help'")


@t.test("'tt' with an unknown subcommand exits 2")
def _():
    res = run([tt, "frobnicate"])
    eq(res.returncode, 2, f"exit code ({show(res)})")


@t.test("a peer whose tracker does not answer says 'tracker 127.0.0.1:PORT not answering', exits 1")
def _():
    silent = udp_socket()  # bound, never answers
    port = silent.getsockname()[1]
    start = time.monotonic()
    p = start_peer(tt, 91, port, wait_join=False)
    t.watch(p)
    p.expect_stderr(rf"^tt: tracker 127\.0\.0\.1:{port} not answering", timeout=20)
    eq(p.wait(10), 1, "exit code")
    t.diag(f"gave up after {time.monotonic() - start:.1f}s")


@t.test("tracker console: 'help' prints something, unknown command 'Please enter a valid command!', 'exit' exits 0")
def _():
    tr = start_tracker(tt, name="tracker-console")
    t.watch(tr)
    tr.send("help")
    tr.send("fence")
    lines = tr.read_until_line("Please enter a valid command!")
    require(lines, "'help' printed nothing")
    tr.send("exit")
    eq(tr.wait(), 0, "exit code")


@t.test("end of the tracker's stdin does not stop it; SIGTERM then exits 0")
def _():
    tr = start_tracker(tt, name="tracker-eof")
    t.watch(tr)
    tr.close_stdin()
    time.sleep(1.0)
    require(tr.alive(), f"tracker exited with {tr.poll()} at end of stdin")
    raw = udp_ask(tr.port, {"action": "get_peers", "peer_id": "92", "file_name": "x.txt"})
    require(raw is not None, "tracker does not answer after end of stdin")
    require(isinstance(json.loads(raw), dict), f"answer {raw!r}")
    tr.signal(signal.SIGTERM)
    eq(tr.wait(5), 0, "exit code after SIGTERM")


@t.test("SIGINT stops the tracker with exit code 0")
def _():
    tr = start_tracker(tt, name="tracker-int")
    time.sleep(0.3)  # as a person would: not within the first instant
    tr.signal(signal.SIGINT)
    eq(tr.wait(5), 0, "exit code after SIGINT")


@t.test("--log puts the tracker's and the peer's log where asked (and not the default files)")
def _():
    d = tempdir("logs")
    tr = start_tracker(tt, extra=["--log", f"{d}/tracker.log"], name="tracker-log")
    t.watch(tr)
    p = start_peer(tt, 93, tr.port, extra=["--log", f"{d}/peer.log"])
    t.watch(p)
    p.close_stdin()
    eq(p.wait(), 0, "peer exit code")
    require(f"Tracker started at {HOST}:{tr.port}" in log_messages(f"{d}/tracker.log"),
            "tracker.log lacks the start line")
    require(f"Peer 93 joined the network on TCP port {p.port}" in log_messages(f"{d}/peer.log"),
            "peer.log lacks the join line")
    require(not os.path.exists(f"{tr.dir}/.tracker.log"), ".tracker.log written anyway")
    require(not os.path.exists(f"{p.dir}/.peer_93.log"), ".peer_93.log written anyway")
    tr.send("exit")
    eq(tr.wait(), 0, "tracker exit code")


@t.test("host names: 'tt tracker --host localhost' and 'tt peer --host localhost --tracker "
        "localhost:PORT' work; the tracker answers 'quit' like 'exit'")
def _():
    tr = Proc([tt, "tracker", "--host", "localhost", "--port", "0"], tempdir("tracker-name"),
              "tracker-name")
    t.watch(tr)
    m = tr.expect(r"^Tracker started at 127\.0\.0\.1:(\d+)$")
    port = int(m.group(1))
    d = tempdir("peer94")
    p = Proc([tt, "peer", "--id", "94", "--tracker", f"localhost:{port}", "--dir", d,
              "--host", "localhost", "--port", "0"], d, "peer94")
    t.watch(p)
    m = p.expect(r"^Peer 94 joined the network on TCP port (\d+)$")
    tr.expect_line(f"Peer 94 joined on TCP port {m.group(1)}")
    p.close_stdin()
    eq(p.wait(), 0, "peer exit code")
    tr.send("quit")
    eq(tr.wait(), 0, "tracker exit code after 'quit'")


@t.test("a host flag with a name that does not resolve: one line naming the flag, exit 2")
def _():
    for argv, flag in (([tt, "tracker", "--host", "nosuch.invalid"], "--host"),
                       ([tt, "peer", "--id", "1", "--host", "nosuch.invalid"], "--host"),
                       ([tt, "peer", "--id", "1", "--tracker", "nosuch.invalid:6771"],
                        "--tracker"),
                       ([tt, "peer", "--id", "1", "--host", "::1"], "--host")):
        res = run(argv)
        eq(res.returncode, 2, f"exit code of {argv[1:]} ({show(res)})")
        lines = res.stderr.strip().splitlines()
        eq(len(lines), 1, f"stderr lines of {argv[1:]} ({lines!r})")
        require(f"bad {flag} '{argv[-1]}'" in lines[0], f"flag not named: {lines[0]!r}")


t.done()
