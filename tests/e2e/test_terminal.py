#!/usr/bin/env python3
"""A peer on a terminal (a pty) prompts like the seed: 'Enter command
(share/get/request logs/exit): ' before each command, and 'Desired Peer: '
after listing the sources of a `get` without N."""

import os
from types import SimpleNamespace

from harness import (HOST, PEER_PROMPT, Proc, Tap, eq, require, start_peer, start_sharer,
                     start_tracker, tempdir, tt_path, wait_for)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

DATA = b"fetched through a terminal session\n" * 300


@t.setup("tracker and seeder peer 81 (piped) start; 81 shares t.txt")
def _():
    c.tracker = start_tracker(tt)
    t.watch(c.tracker)
    c.seeder = start_sharer(tt, 81, c.tracker.port, "t.txt", DATA)
    t.watch(c.seeder)


@t.test("peer 82 on a terminal joins and prints the prompt", fatal=True)
def _():
    c.p = start_peer(tt, 82, c.tracker.port, use_pty=True)
    t.watch(c.p)
    c.p.expect_raw(PEER_PROMPT)


@t.test("'get t.txt' lists the sources, then asks 'Desired Peer: '")
def _():
    c.p.send("get t.txt")
    c.p.expect_line("Available Peers: ")
    c.p.expect_line(f"1: ip: {HOST}, port: {c.seeder.port}")
    c.p.expect_raw("Desired Peer: ")


@t.test("answering 1 downloads from that peer; the file is byte-identical")
def _():
    c.p.send("1")
    c.p.expect_line(f"Connecting to peer at {HOST}:{c.seeder.port}")
    c.p.expect_line("Downloaded file t.txt successfully.")
    with open(f"{c.p.dir}/t.txt", "rb") as f:
        require(f.read() == DATA, "t.txt differs from the original")


@t.test("the prompt comes back; an unknown command answers, then prompts again")
def _():
    c.p.expect_raw(PEER_PROMPT)
    c.p.send("hello")
    c.p.expect_line("Please enter a valid command!")
    c.p.expect_raw(PEER_PROMPT)


@t.test("'exit' on the terminal: leaves, exit code 0")
def _():
    c.p.send("exit")
    c.p.expect_line("Peer 82 is leaving the network.")
    eq(c.p.wait(), 0, "exit code")
    c.tracker.expect_line("Peer 82 left the network.")


@t.test("end of input on the terminal (^D) leaves, exit code 0")
def _():
    p = start_peer(tt, 83, c.tracker.port, use_pty=True)
    t.watch(p)
    p.expect_raw(PEER_PROMPT)
    p.close_stdin()
    p.expect(r"Peer 83 is leaving the network\.$")  # ^D echoes no newline: may follow the prompt
    eq(p.wait(), 0, "exit code")


@t.test("without --id on a terminal: asks 'Enter peer ID: ' (then joins) or exits with code 2")
def _():
    d = tempdir("peer84")
    p = Proc([tt, "peer", "--tracker", f"{HOST}:{c.tracker.port}", "--dir", d, "--host", HOST],
             d, "peer84-noid", use_pty=True)
    t.watch(p)
    m = p.expect_raw_re(r"Enter peer ID: |\n", timeout=10)
    if m.group(0) == "Enter peer ID: ":
        p.send("84")
        p.expect(r"^Peer 84 joined the network on TCP port \d+$")
        p.expect_raw(PEER_PROMPT)
        p.send("exit")
        p.expect_line("Peer 84 is leaving the network.")
        eq(p.wait(), 0, "exit code")
    else:
        eq(p.wait(), 2, "exit code")


@t.test("--quiet on a terminal: 'get t.txt' asks no 'Desired Peer: ' (the list is not shown) "
        "and downloads from every source")
def _():
    d = tempdir("peer85")
    p = start_peer(tt, 85, c.tracker.port, d, extra=["--quiet"], use_pty=True, wait_join=False)
    t.watch(p)
    p.expect_raw(PEER_PROMPT)
    p.send("get t.txt")
    path = f"{d}/t.txt"
    wait_for(lambda: os.path.exists(path) and os.path.getsize(path) == len(DATA),
             what="t.txt downloaded")
    with open(path, "rb") as f:
        require(f.read() == DATA, "t.txt differs from the original")
    p.send("exit")
    eq(p.wait(), 0, "exit code")
    require("Desired Peer" not in p.output(), f"asked under --quiet: {p.output()[-300:]!r}")


t.done()
