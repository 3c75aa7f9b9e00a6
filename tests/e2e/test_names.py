#!/usr/bin/env python3
"""Names are labels, content ids are identities: a squatter who shares a name
first does not own it.

(a) squatter peer 91 shares movie.bin (content A); publisher peer 92 then shares
    movie.bin with content B and is told the name carries other content.
(b) the tracker lists both contents under the name (extended get_peers); a
    seed-form get_peers keeps its seed answer (a peers list of at most 1024
    bytes).
(c) piped, `get movie.bin` refuses with the list of both ids and leaves nothing
    under the name; `get <16-hex prefix of B>` downloads exactly B.
(d) on a terminal, `get movie.bin` lists the contents and asks "Desired
    content: "; choosing B downloads B.
(e) a prefix that matches two contents lists them and refuses; a hex word that
    is no content id is a name (`get cafebabe01` downloads the file of that
    name).
"""

import os
from types import SimpleNamespace

from harness import (Content, ExtClient, PEER_PROMPT, SeedPeer, Tap, absent, eq, ext_get_peers,
                     require, same_file, start_peer, start_sharer, start_tracker_and_watcher,
                     temp_files, tempdir, tt_path)

tt = tt_path()
t = Tap()
c = SimpleNamespace()
NAME = "movie.bin"


def sharer(peer_id, name, content):
    p = start_sharer(tt, peer_id, c.tracker.port, name, content.data)
    t.watch(p)
    return p


@t.setup("tracker starts")
def _():
    c.tracker, c.watcher = start_tracker_and_watcher(tt)
    t.watch(c.tracker)
    c.a = Content(os.urandom((1 << 20) + 17))
    c.b = Content(os.urandom((1 << 20) + 33))


# ---------------------------------------------------------------- (a)


@t.test("(a) the squatter shares movie.bin first; the publisher's share says the name "
        "carries other content", fatal=True)
def _():
    c.squatter = sharer(91, NAME, c.a)
    c.publisher = sharer(92, NAME, c.b)
    c.publisher.expect(rf"^Note: the tracker has 1 other content under the name {NAME}; "
                       rf"downloaders of the name choose by id \(yours: {c.b.id[:12]}\)$")


# ---------------------------------------------------------------- (b)


@t.test("(b) extended get_peers lists both contents, with size and holders")
def _():
    answer = ext_get_peers(c.watcher, NAME)
    contents = answer.get("contents")
    require(isinstance(contents, list), f"no contents list: {answer}")
    eq(sorted(x["id"] for x in contents), sorted([c.a.id, c.b.id]), "listed ids")
    eq(answer.get("contents_total"), 2, "contents_total")
    for x in contents:
        want = c.a if x["id"] == c.a.id else c.b
        eq(x["size"], want.size, "size of " + x["id"][:8])
        eq(x["holders"], 1, "holders of " + x["id"][:8])
        require(isinstance(x["first_seen"], int) and x["first_seen"] > 1_600_000_000,
                f"first_seen {x['first_seen']}")


@t.test("(b) get_peers with B's id (or a prefix) lists only B's holder, and names it")
def _():
    for key in (c.b.id, c.b.id[:8]):
        answer, _ = c.watcher.request("get_peers", file_name=key, id=key)
        eq(answer.get("id"), c.b.id, "id")
        eq(answer.get("name"), NAME, "name")
        eq([s["port"] for s in answer.get("sources", [])], [c.publisher.port], "sources")
        require("contents" not in answer, f"contents in {answer}")


@t.test("(b) a seed-form get_peers keeps the seed's answer")
def _():
    seed = SeedPeer(c.tracker.port, "seed-asker")
    answer = seed.get_peers(NAME)
    eq(sorted(answer.keys()), ["peers"], "keys of the seed answer")
    eq(len(answer["peers"]), 1, "peers listed")


# ---------------------------------------------------------------- (c)


@t.test("(c) piped, `get movie.bin` refuses with the list; nothing under the name")
def _():
    c.d = tempdir("dl93")
    c.dl = start_peer(tt, 93, c.tracker.port, c.d)
    t.watch(c.dl)
    c.dl.send(f"get {NAME}")
    c.dl.expect_line(f"The name {NAME} matches 2 contents:")
    listed = [c.dl.expect(r"^([12]): id ([0-9a-f]{16})  (\d+) bytes  1 holder  first seen "
                          r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$") for _ in range(2)]
    eq(sorted(m.group(2) for m in listed), sorted([c.a.id[:16], c.b.id[:16]]), "listed ids")
    c.dl.expect(rf"^Error downloading file {NAME}: the name matches 2 contents; get one by its "
                r"id \(e\.g\. get [0-9a-f]{16}\)$")
    absent(c.d, NAME)
    eq(temp_files(c.d), [], "temp files")


@t.test("(c) piped, `get <prefix of B>` downloads exactly B under the name")
def _():
    c.dl.send(f"get {c.b.id[:16]}")
    c.dl.expect_line(f"Downloaded file {NAME} successfully.", timeout=60)
    same_file(os.path.join(c.d, NAME), c.b.sha, "downloaded movie.bin")


# ---------------------------------------------------------------- (d)


@t.test("(d) on a terminal, `get movie.bin` asks which content; B is downloaded")
def _():
    d = tempdir("dl94")
    p = start_peer(tt, 94, c.tracker.port, d, use_pty=True)
    t.watch(p)
    p.expect_raw(PEER_PROMPT)
    p.send(f"get {NAME}")
    p.expect_line(f"The name {NAME} matches 2 contents:")
    number = None
    for _ in range(2):
        m = p.expect(r"^([12]): id ([0-9a-f]{16}) ")
        if m.group(2) == c.b.id[:16]:
            number = m.group(1)
    require(number is not None, "B not listed")
    p.expect_raw("Desired content: ")
    p.send("7")  # not a choice: asked again
    p.expect_line("Please choose a content from 1 to 2.")
    p.expect_raw("Desired content: ")
    p.send(number)
    p.expect_raw("Desired Peer: ", timeout=30)
    p.send("")
    p.expect(rf"Downloaded file {NAME} successfully\.$", timeout=60)
    same_file(os.path.join(d, NAME), c.b.sha, "downloaded movie.bin")


# ---------------------------------------------------------------- (e)


@t.test("(e) a prefix shared by two contents lists them and refuses")
def _():
    fake = ExtClient(c.tracker.port, "faker", tcp_port=9)
    answer, _ = fake.join()
    eq(answer.get("status"), "ok", "join")
    ids = ["deadbeef" + "0" * 56, "deadbeef" + "1" * 56]
    for i, x in enumerate(ids):
        answer, _ = fake.request("share_file", file=f"fake{i}.bin", size=5, id=x)
        eq(answer.get("status"), "ok", "share_file")
    answer, _ = c.watcher.request("get_peers", file_name="deadbeef", id="deadbeef")
    eq(sorted(x["id"] for x in answer.get("contents", [])), ids, "contents")
    eq(answer.get("sources"), [], "sources")
    c.dl.send("get deadbeef")
    c.dl.expect_line("The content id prefix deadbeef matches 2 contents:")
    c.dl.expect(r"^Error downloading file deadbeef: the content id prefix matches 2 contents")
    absent(c.d, "deadbeef")


@t.test("(e) a hex word that is no content id is a name")
def _():
    k = Content(os.urandom(70000))
    p = sharer(95, "cafebabe01", k)
    c.dl.send("get cafebabe01")
    c.dl.expect_line("Downloaded file cafebabe01 successfully.", timeout=60)
    same_file(os.path.join(c.d, "cafebabe01"), k.sha, "cafebabe01")
    p.send("exit")


t.done()
