#!/usr/bin/env python3
"""A whole seed-style session with piped stdin.

Tracker plus peers 1, 2 and 3 in separate directories: peers 1 and 2 share
example.txt, peer 1 also meow.txt, peer 3 fetches example.txt from peer 2 and
meow.txt from peer 1. Everyone leaves (by `exit`, end of stdin, SIGINT); then
the tracker's console log commands and the log files of everyone are checked.
"""

import re
import signal
from types import SimpleNamespace

from harness import (HOST, SeedPeer, Tap, check_log_format, eq, is_error, log_messages,
                     peer_list, read_log, require, start_peer, start_tracker,
                     temp_files, tempdir, tt_path, write_bytes)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

EXAMPLE = b"".join(b"line %d of the example file, shared by peers 1 and 2\n" % i
                   for i in range(2000))
MEOW = b"meow\n" * 321


def fenced(proc, command):
    """Send a tracker console command, then an unknown command as a fence;
    return the lines the command printed (everything before the fence's answer)."""
    fence = "fence-" + command.replace(" ", "-")
    proc.send(command)
    proc.send(fence)
    lines = proc.read_until_line("Please enter a valid command!")
    proc.expect_line(f"Unknown command '{fence}'. Type 'help' for the list.")
    return lines


@t.test("tracker starts: 'Tracker started at' then 'Tracker running at' with the bound port",
        fatal=True)
def _():
    c.tracker = start_tracker(tt)
    t.watch(c.tracker)


@t.test("peer 1 joins; tracker prints 'Peer 1 joined on TCP port P'", fatal=True)
def _():
    d = tempdir("peer1")
    write_bytes(f"{d}/example.txt", EXAMPLE)
    write_bytes(f"{d}/meow.txt", MEOW)
    c.p1 = start_peer(tt, 1, c.tracker.port, d)
    t.watch(c.p1)
    c.tracker.expect_line(f"Peer 1 joined on TCP port {c.p1.port}")


@t.test("peer 1 shares example.txt and meow.txt (peer and tracker console lines)")
def _():
    for name in ("example.txt", "meow.txt"):
        c.p1.send(f"share {name}")
        c.p1.expect_line(f"Peer 1 shared a new files: {name}")
        c.tracker.expect_line(f"Peer 1 updated files: {name}")


@t.test("peer 2 joins and shares example.txt", fatal=True)
def _():
    d = tempdir("peer2")
    write_bytes(f"{d}/example.txt", EXAMPLE)
    c.p2 = start_peer(tt, 2, c.tracker.port, d)
    t.watch(c.p2)
    c.tracker.expect_line(f"Peer 2 joined on TCP port {c.p2.port}")
    c.p2.send("share example.txt")
    c.p2.expect_line("Peer 2 shared a new files: example.txt")
    c.tracker.expect_line("Peer 2 updated files: example.txt")


@t.test("peer 3 joins", fatal=True)
def _():
    c.p3 = start_peer(tt, 3, c.tracker.port)
    t.watch(c.p3)
    c.tracker.expect_line(f"Peer 3 joined on TCP port {c.p3.port}")


@t.test("peer 3 'get example.txt 2' lists both sources in order and connects to peer 2")
def _():
    c.p3.send("get example.txt 2")
    c.p3.expect_line("Available Peers: ")
    listed = c.p3.read_until_line(f"Connecting to peer at {HOST}:{c.p2.port}")
    eq([l for l in listed if re.match(r"^\d+: ip: ", l)],
       [f"1: ip: {HOST}, port: {c.p1.port}", f"2: ip: {HOST}, port: {c.p2.port}"],
       "listed sources")


@t.test("peer 3 prints 'Downloaded file example.txt successfully.'; tracker sees got_the_file")
def _():
    c.p3.expect_line("Downloaded file example.txt successfully.")
    c.tracker.expect_line("Peer 3 downloaded the file file: example.txt")


@t.test("the downloaded example.txt is byte-identical and no temp file is left")
def _():
    with open(f"{c.p3.dir}/example.txt", "rb") as f:
        require(f.read() == EXAMPLE, "downloaded example.txt differs from the original")
    eq(temp_files(c.p3.dir), [], "temp files in peer 3's dir")


@t.test("peer 3 'get meow.txt' without N (piped) uses peer 1, the only source")
def _():
    c.p3.send("get meow.txt")
    c.p3.expect_line("Available Peers: ")
    listed = c.p3.read_until_line(f"Connecting to peer at {HOST}:{c.p1.port}")
    eq([l for l in listed if re.match(r"^\d+: ip: ", l)],
       [f"1: ip: {HOST}, port: {c.p1.port}"], "listed sources")
    c.p3.expect_line("Downloaded file meow.txt successfully.")
    with open(f"{c.p3.dir}/meow.txt", "rb") as f:
        require(f.read() == MEOW, "downloaded meow.txt differs from the original")


@t.test("tracker lists peer 3 as a source of example.txt after got_the_file (registration order)")
def _():
    c.probe = SeedPeer(c.tracker.port, "99")
    eq(c.probe.join([]), {"status": "ok"}, "probe join answer")
    eq(peer_list(c.probe.get_peers("example.txt")),
       [(HOST, c.p1.port), (HOST, c.p2.port), (HOST, c.p3.port)], "sources of example.txt")


@t.test("get_peers for a file nobody has answers an empty list; share_file by an unknown peer fails")
def _():
    eq(c.probe.get_peers("nothing.txt"), {"peers": []}, "get_peers nothing.txt")
    ghost = SeedPeer(c.tracker.port, "ghost")
    answer = ghost.share("x.txt")
    require(is_error(answer) and answer["message"] == "Peer not found",
            f"share_file by unknown peer answered {answer!r}")


@t.test("peer 3 'request logs' shows its download lines")
def _():
    # No fence here: an unknown command would count as a failed command and
    # change peer 3's exit code.
    c.p3.send("request logs")
    c.p3.expect(rf"Downloaded file example\.txt from 127\.0\.0\.1:{c.p2.port}$")
    c.p3.expect(rf"Downloaded file meow\.txt from 127\.0\.0\.1:{c.p1.port}$")


@t.test("peer 3 'exit': prints 'Peer 3 is leaving the network.', exit code 0, tracker sees the leave")
def _():
    c.p3.send("exit")
    c.p3.expect_line("Peer 3 is leaving the network.")
    eq(c.p3.wait(), 0, "peer 3 exit code")
    c.tracker.expect_line("Peer 3 left the network.")


@t.test("peer 1 at end of piped stdin: leaves, exit code 0")
def _():
    c.p1.close_stdin()
    c.p1.expect_line("Peer 1 is leaving the network.")
    eq(c.p1.wait(), 0, "peer 1 exit code")
    c.tracker.expect_line("Peer 1 left the network.")


@t.test("peer 2 on SIGINT: leaves, exit code 0")
def _():
    c.p2.signal(signal.SIGINT)
    c.p2.expect_line("Peer 2 is leaving the network.")
    eq(c.p2.wait(), 0, "peer 2 exit code")
    c.tracker.expect_line("Peer 2 left the network.")


@t.test("after everyone left, nobody is listed for example.txt")
def _():
    eq(c.probe.get_peers("example.txt"), {"peers": []}, "sources of example.txt")


@t.test("no peer printed the prompt while stdin was a pipe")
def _():
    for p in (c.p1, c.p2, c.p3):
        require("Enter command" not in p.output(), f"{p.name} printed a prompt on a pipe")


@t.test("tracker 'logs request' prints 'Logs from tracker.log:' then every log line")
def _():
    before = read_log(c.tracker.log_path)
    lines = fenced(c.tracker, "logs request")
    require(lines and lines[0] == "Logs from tracker.log:",
            f"first line is not the header: {lines[:1]!r}")
    eq(lines[1:1 + len(before)], before, "printed log lines")


@t.test("tracker 'all-logs' prints exactly the log lines containing 'shared'")
def _():
    shared = [l for l in read_log(c.tracker.log_path) if "shared" in l]
    lines = fenced(c.tracker, "all-logs")
    eq([l for l in lines if "shared" in l], shared, "printed 'shared' lines")
    for msg in ("Peer 1 shared file: example.txt, status: success",
                "Peer 1 shared file: meow.txt, status: success",
                "Peer 2 shared file: example.txt, status: success",
                "Peer ghost shared file: x.txt, status: fail"):
        require(any(l.endswith(msg) for l in lines), f"missing {msg!r}")


@t.test("tracker 'file_logs example.txt' prints the log lines about example.txt only")
def _():
    lines = fenced(c.tracker, "file_logs example.txt")
    logged = [l for l in lines if "example.txt" in l]
    require(logged, "no lines printed")
    for msg in ("Peer 1 shared file: example.txt, status: success",
                "Peer 3 wants peers' names with file: example.txt, status: success",
                "Peer 3 downloaded the file file: example.txt, status: success"):
        require(any(l.endswith(msg) for l in logged), f"missing {msg!r} in {logged!r}")
    require(not any("meow.txt" in l for l in lines), "printed a line about meow.txt")


@t.test("tracker 'file_logs nope.txt' prints 'File name does not exist.'")
def _():
    eq(fenced(c.tracker, "file_logs nope.txt"), ["File name does not exist."], "output")


@t.test("tracker log file: every line 'YYYY-MM-DD HH:MM:SS,mmm - message' in local time")
def _():
    check_log_format(c.tracker.log_path)


@t.test("tracker log file has the seed's messages")
def _():
    msgs = log_messages(c.tracker.log_path)
    for msg in (f"Tracker started at {HOST}:{c.tracker.port}",
                f"Peer 1 joined on TCP port {c.p1.port}",
                "Peer 1 shared file: example.txt, status: success",
                "Peer 2 shared file: example.txt, status: success",
                "Peer 3 wants peers' names with file: example.txt, status: success",
                "Peer 99 wants peers' names with file: nothing.txt, status: fail",
                "Peer 3 downloaded the file file: example.txt, status: success",
                "Peer ghost shared file: x.txt, status: fail",
                "Peer 3 left the network.", "Peer 1 left the network.",
                "Peer 2 left the network."):
        require(msg in msgs, f"tracker log lacks {msg!r}")


@t.test("peer log files: format, join line, set of shared files after each share")
def _():
    for p in (c.p1, c.p2, c.p3):
        check_log_format(p.log_path)
    msgs = log_messages(c.p1.log_path)
    require(f"Peer 1 joined the network on TCP port {c.p1.port}" in msgs, "no join line in .peer_1.log")
    sets = []
    for m in msgs:
        found = re.fullmatch(r"Peer 1 updated shared files: \{(.*)\}", m)
        if found:
            sets.append(sorted(re.findall(r"'([^']*)'", found.group(1))))
    eq(sets, [["example.txt"], ["example.txt", "meow.txt"]], "logged shared-file sets of peer 1")


@t.test("peer 3 log file records both downloads with their sources")
def _():
    msgs = log_messages(c.p3.log_path)
    for msg in (f"Downloaded file example.txt from {HOST}:{c.p2.port}",
                f"Downloaded file meow.txt from {HOST}:{c.p1.port}"):
        require(msg in msgs, f".peer_3.log lacks {msg!r}")


@t.test("tracker 'exit' exits with code 0")
def _():
    c.tracker.send("exit")
    eq(c.tracker.wait(), 0, "tracker exit code")


@t.test("a second tracker run in the same directory appends to .tracker.log")
def _():
    before = read_log(c.tracker.log_path)
    again = start_tracker(tt, cwd=c.tracker.dir, name="tracker-again")
    after = read_log(again.log_path)
    eq(after[:len(before)], before, "old log lines")
    require(after[len(before):] and after[len(before)].endswith(
        f"Tracker started at {HOST}:{again.port}"), f"new lines: {after[len(before):]!r}")
    again.send("exit")
    eq(again.wait(), 0, "tracker exit code")


t.done()
