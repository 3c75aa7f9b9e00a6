"""Real BitTorrent clients that no one here wrote, meeting through `tt tracker`.

On loopback only: a random file is made into a torrent with `mktorrent`
announcing to the tracker (udp://127.0.0.1:PORT/announce, or the --http
listener's http://127.0.0.1:HTTPPORT/announce); one real client seeds it and
another downloads it, in pairs from Debian's transmission-cli, python3-libtorrent
(a small session script, run by /usr/bin/python3) and aria2c. DHT, local peer
discovery and peer exchange are off in every client, so the tracker is the
only way the two find each other. The download must be byte-identical, and the
tracker's console `stats` and /metrics must count the swarm.

Missing clients are installed with apt-get; a pair is skipped (with the reason)
only when one of its clients cannot be installed or cannot start.

TT_BT_TRACKER=opentracker runs the same pairs against Debian's opentracker
instead (a check of the clients and this harness; the tracker counters are
then not checked).
"""

import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, CheckFailed, Proc, Tap, budget, require, run, sha256_file,  # noqa: E402
                     start_tracker, tempdir, tt_path, wait_for, write_random)

tt = tt_path()
t = Tap()

SYSTEM_PYTHON = "/usr/bin/python3"  # where Debian's python3-libtorrent is importable
FILE_SIZE = 3 << 20
PAIR_TIMEOUT = 30.0
FENCE = "Please enter a valid command!"  # the console's answer to an unknown command
OPENTRACKER = os.environ.get("TT_BT_TRACKER") == "opentracker"


class Ctx:
    pass


c = Ctx()


# ---------------------------------------------------------------- small tools


def free_port():
    """A port free for both TCP and UDP on 127.0.0.1 right now (the clients
    need one given on their command line)."""
    for _ in range(50):
        ts = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ts.bind((HOST, 0))
        port = ts.getsockname()[1]
        us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            us.bind((HOST, port))
            return port
        except OSError:
            continue
        finally:
            us.close()
            ts.close()
    raise CheckFailed("no free port on 127.0.0.1")


def bdecode(data, i=0):
    """Decode one bencoded value at data[i:]; returns (value, end). Dict values
    are kept with their raw span under the key b'\\0span:KEY'."""
    ch = data[i:i + 1]
    if ch == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1:end]), end + 1
    if ch == b"l":
        out, i = [], i + 1
        while data[i:i + 1] != b"e":
            v, i = bdecode(data, i)
            out.append(v)
        return out, i + 1
    if ch == b"d":
        out, i = {}, i + 1
        while data[i:i + 1] != b"e":
            k, i = bdecode(data, i)
            start = i
            v, i = bdecode(data, i)
            out[k] = v
            out[b"\0span:" + k] = (start, i)
        return out, i + 1
    if ch.isdigit():
        colon = data.index(b":", i)
        n = int(data[i:colon])
        return data[colon + 1:colon + 1 + n], colon + 1 + n
    raise ValueError(f"bad bencode at {i}")


def info_hash(torrent_path):
    with open(torrent_path, "rb") as f:
        raw = f.read()
    meta, _ = bdecode(raw)
    start, end = meta[b"\0span:info"]
    return hashlib.sha1(raw[start:end]).digest()


def apt_install(pkgs):
    """Install Debian packages that are missing; returns None or why not."""
    missing = [p for p in pkgs
               if "install ok installed" not in subprocess.run(
                   ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                   text=True).stdout]
    if not missing:
        return None
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        r = subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                                   *missing], capture_output=True, text=True,
                           timeout=budget(90), env=env)
    except (subprocess.TimeoutExpired, OSError) as e:
        return f"apt-get install {' '.join(missing)}: {e}"
    if r.returncode != 0:
        return f"apt-get install {' '.join(missing)} failed: {r.stderr.strip()[-200:]}"
    return None


# ---------------------------------------------------------------- BEP 15 / HTTP probes


def bep15_connect(port, timeout=2.0):
    """A BEP 15 connect: returns the connection id, or raises CheckFailed."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((HOST, 0))
        s.settimeout(timeout)
        tx = int.from_bytes(os.urandom(4), "big")
        for _ in range(2):
            s.sendto(struct.pack(">QII", 0x41727101980, 0, tx), (HOST, port))
            try:
                data = s.recv(2048)
            except socket.timeout:
                continue
            if len(data) >= 16 and struct.unpack(">II", data[:8]) == (0, tx):
                return s, struct.unpack(">Q", data[8:16])[0]
            raise CheckFailed(f"tracker did not answer BEP 15 connect: got {data[:80]!r}")
        raise CheckFailed("tracker did not answer BEP 15 connect (no answer in "
                          f"{2 * timeout:.0f} s)")
    except BaseException:
        s.close()
        raise


def bep15_scrape(port, ih):
    """(seeders, completed, leechers) of one info hash over BEP 15."""
    s, cid = bep15_connect(port)
    try:
        tx = int.from_bytes(os.urandom(4), "big")
        s.sendto(struct.pack(">QII", cid, 2, tx) + ih, (HOST, port))
        data = s.recv(2048)
        require(len(data) >= 20 and struct.unpack(">II", data[:8]) == (2, tx),
                f"bad BEP 15 scrape answer {data[:80]!r}")
        return struct.unpack(">III", data[8:20])
    finally:
        s.close()


def http_get(port, path, timeout=3.0):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def http_scrape(port, ih):
    """(seeders, completed, leechers) of one info hash over HTTP /scrape."""
    status, body = http_get(port, "/scrape?info_hash=" + urllib.parse.quote_from_bytes(ih))
    require(status == 200, f"/scrape answered {status}: {body[:120]!r}")
    d, _ = bdecode(body)
    require(isinstance(d, dict) and b"files" in d, f"/scrape answer without files: {body[:120]!r}")
    f = d[b"files"].get(ih, {})
    return f.get(b"complete", 0), f.get(b"downloaded", 0), f.get(b"incomplete", 0)


def metrics():
    """The tracker's /metrics as {name: value} (labels kept in the name)."""
    status, body = http_get(c.http_port, "/metrics")
    require(status == 200, f"/metrics answered {status}")
    out = {}
    for line in body.decode("utf-8", "replace").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def console_stats():
    """The lines the tracker console printed for `stats`: an unknown command
    sent after it is the fence whose error line ends them."""
    tr = c.tracker
    tr.settle()
    tr.skip_all()
    tr.send("stats")
    tr.send("no-such-command")
    return tr.read_until_line(FENCE, timeout=10)


# ---------------------------------------------------------------- clients

LT_SCRIPT = r'''
import sys, time
import libtorrent as lt
mode, torrent, save, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
settings = {
    "listen_interfaces": "127.0.0.1:%d" % port,
    "outgoing_interfaces": "127.0.0.1",
    "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
    "allow_multiple_connections_per_ip": True,
    "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.tracker_notification
        | lt.alert.category_t.status_notification | lt.alert.category_t.connect_notification
        | lt.alert.category_t.peer_notification,
}
ses = lt.session(settings, 0)   # flags 0: no default plugins, so no peer exchange
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save
h = ses.add_torrent(atp)
print("libtorrent %s %s on port %d" % (lt.__version__, mode, port), flush=True)
last = ""
while True:
    for a in ses.pop_alerts():
        print("alert: %s" % a.message(), flush=True)
    st = h.status()
    line = "state %s progress %.3f peers %d seeding %s" % (
        st.state, st.progress, st.num_peers, st.is_seeding)
    if line != last:
        print(line, flush=True)
        last = line
    time.sleep(0.2)
'''


def transmission_config(port):
    d = tempdir("tr-config")
    settings = {
        "dht-enabled": False, "lpd-enabled": False, "pex-enabled": False,
        "utp-enabled": False, "port-forwarding-enabled": False,
        "peer-port": port, "peer-port-random-on-start": False,
        "bind-address-ipv4": HOST, "bind-address-ipv6": "::1",
        "rename-partial-files": False, "blocklist-enabled": False,
        "ratio-limit-enabled": False, "idle-seeding-limit-enabled": False,
        "speed-limit-up-enabled": False, "speed-limit-down-enabled": False,
        "rpc-enabled": False, "message-level": 3,
    }
    with open(os.path.join(d, "settings.json"), "w") as f:
        json.dump(settings, f)
    return d


def start_client(kind, role, torrent, d):
    """Start client `kind` seeding (role 'seed': the file is in d) or
    downloading (role 'leech': into d). Returns the Proc."""
    port = free_port()
    name = f"{kind}-{role}"
    if kind == "libtorrent":
        script = os.path.join(tempdir("lt"), "lt_client.py")
        with open(script, "w") as f:
            f.write(LT_SCRIPT)
        p = Proc([SYSTEM_PYTHON, "-u", script, role, torrent, d, str(port)], d, name,
                 stdin_devnull=True)
    elif kind == "transmission":
        cfg = transmission_config(port)
        argv = ["transmission-cli", "-g", cfg, "-w", d, "-p", str(port), "-M", "-D", "-U"]
        if role == "seed":
            argv.append("-v")
        p = Proc(argv + [torrent], d, name, stdin_devnull=True)
    elif kind == "aria2":
        argv = ["aria2c", "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
                "--enable-peer-exchange=false", "--disable-ipv6=true", f"--listen-port={port}",
                "--file-allocation=none", "--summary-interval=1", "--console-log-level=notice",
                "--auto-save-interval=0", "--bt-save-metadata=false",
                f"--dir={d}", "--seed-ratio=0.0"]
        if role == "seed":
            argv += ["--check-integrity=true", "--seed-time=5"]
        else:
            argv += ["--seed-time=0"]
        p = Proc(argv + [torrent], d, name, stdin_devnull=True)
    else:
        raise ValueError(kind)
    p.listen_port = port
    t.watch(p)
    return p


CLIENT_PKGS = {
    "libtorrent": ["python3-libtorrent"],
    "transmission": ["transmission-cli"],
    "aria2": ["aria2"],
}


def client_problem(kind):
    """None when `kind` can run here, else why not."""
    why = apt_install(CLIENT_PKGS[kind])
    if why:
        return why
    if kind == "libtorrent":
        r = subprocess.run([SYSTEM_PYTHON, "-c", "import libtorrent"], capture_output=True,
                           text=True)
        return None if r.returncode == 0 else \
            f"{SYSTEM_PYTHON} cannot import libtorrent: {r.stderr.strip()[-160:]}"
    argv = {"transmission": ["transmission-cli", "--version"],
            "aria2": ["aria2c", "--version"]}[kind]
    if not shutil.which(argv[0]):
        return f"{argv[0]} not found after installing"
    r = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=10)
    return None if r.returncode == 0 else \
        f"{' '.join(argv)} exits {r.returncode}: {r.stderr[-160:]}"


# ---------------------------------------------------------------- pairs


def allow(ih):
    """With opentracker, whitelist an info hash and wait until it is served."""
    if not OPENTRACKER:
        return
    with open(c.whitelist, "a") as f:
        f.write(ih.hex() + "\n")
    c.tracker.signal(signal.SIGHUP)

    def served():
        status, body = http_get(c.http_port, "/announce?" + announce_query(ih, "stopped"))
        return status == 200 and b"failure reason" not in body
    wait_for(served, timeout=10, what="opentracker to reload its whitelist", interval=0.2)


def announce_query(ih, event):
    return urllib.parse.urlencode({
        "info_hash": ih, "peer_id": b"-TE0001-" + os.urandom(6).hex().encode(),
        "port": 6881, "uploaded": 0, "downloaded": 0, "left": 0, "compact": 1, "event": event})


def make_torrent(url):
    d = tempdir("torrent-src")
    name = f"random-{os.urandom(4).hex()}.bin"
    sha = write_random(os.path.join(d, name), FILE_SIZE)
    out = os.path.join(tempdir("torrent"), name + ".torrent")
    r = run(["mktorrent", "-a", url, "-l", "16", "-o", out, os.path.join(d, name)], timeout=30)
    require(r.returncode == 0 and os.path.isfile(out), f"mktorrent failed: {r.stderr.strip()}")
    return d, name, sha, out


def stop_all(procs):
    for p in procs:
        p.stop()


def run_pair(seeder, leecher, transport):
    require(transport not in c.broken, c.broken.get(transport))
    url = (f"udp://{HOST}:{c.port}/announce" if transport == "udp"
           else f"http://{HOST}:{c.http_port}/announce")
    src, name, sha, torrent = make_torrent(url)
    ih = info_hash(torrent)
    allow(ih)
    scrape = ((lambda: bep15_scrape(c.port, ih)) if transport == "udp"
              else (lambda: http_scrape(c.http_port, ih)))
    # Transmission never dials peers on 127.0.0.0/8 (it counts them as
    # unroutable), so on loopback the other client must dial it: Transmission
    # announces first, and the other learns its address from its own first
    # announce. Otherwise the seeder announces first and the leecher dials it.
    order = [("leech", leecher), ("seed", seeder)] if leecher == "transmission" \
        else [("seed", seeder), ("leech", leecher)]
    out = tempdir(f"{leecher}-out")
    target = os.path.join(out, name)
    procs = []
    try:
        for i, (role, kind) in enumerate(order):
            p = start_client(kind, role, torrent, src if role == "seed" else out)
            procs.append(p)
            if role == "leech":
                lc = p
            if i == 0:
                def listed():
                    require(p.alive(), f"{kind} exited (code {p.poll()})")
                    counts = scrape()
                    return counts[0] >= 1 if role == "seed" else counts[2] >= 1
                wait_for(listed, timeout=PAIR_TIMEOUT, interval=0.3,
                         what=f"the tracker to list the {kind} {role}er")

        def downloaded():
            if os.path.isfile(target) and os.path.getsize(target) == FILE_SIZE \
                    and sha256_file(target) == sha:
                return True
            require(lc.poll() in (None, 0), f"{leecher} exited with code {lc.poll()}")
            return False
        wait_for(downloaded, timeout=PAIR_TIMEOUT,
                 what=f"{leecher} to download {name} from {seeder}", interval=0.3)
        if leecher != "aria2":  # aria2 leaves as soon as it has the file
            wait_for(lambda: scrape()[0] >= 2, timeout=10, interval=0.3,
                     what="the tracker to count the finished downloader as a seeder")
        if not OPENTRACKER:
            check_counts(2 if leecher != "aria2" else 1)
    except CheckFailed as e:
        tails = "".join(f"\n--- {p.name} (exit code {p.poll()}):\n{p.tail(6)[-600:]}\n"
                        f"{p.stderr_tail(4)[-600:]}"
                        for p in procs)
        raise CheckFailed(f"{e}{tails}")
    finally:
        stop_all(reversed(procs))
        for p in procs:
            t.watched.remove(p)


def check_counts(peers):
    """The tracker's /metrics and console `stats` count the swarm and at least
    `peers` peers."""
    m = wait_for(lambda: (lambda m: m if m.get("tt_bt_swarms", 0) >= 1
                          and m.get("tt_bt_peers", 0) >= peers else None)(metrics()),
                 timeout=5, what=f"tt_bt_swarms >= 1 and tt_bt_peers >= {peers} in /metrics")
    lines = console_stats()
    counts = [re.search(r"(\d+) swarms?\b.*?(\d+) peers?\b", ln) for ln in lines]
    counts = [m for m in counts if m]
    require(counts, f"console `stats` has no line with N swarms, M peers: {lines}")
    swarms, bt_peers = int(counts[0].group(1)), int(counts[0].group(2))
    require(swarms >= 1 and bt_peers >= peers,
            f"console `stats` counts {swarms} swarms, {bt_peers} peers (want >= 1, >= {peers}); "
            f"/metrics says {m.get('tt_bt_swarms')}, {m.get('tt_bt_peers')}")


# ---------------------------------------------------------------- the tracker


def _answers_connect():
    try:
        s, _ = bep15_connect(c.port, timeout=0.5)
        s.close()
        return True
    except CheckFailed:
        return False


@t.setup("mktorrent is installed (or installs)")
def _():
    why = apt_install(["mktorrent"])
    require(why is None and shutil.which("mktorrent"), f"mktorrent: {why}")


if OPENTRACKER:
    @t.setup("opentracker starts on 127.0.0.1 (development comparison)")
    def _():
        why = apt_install(["opentracker"])
        require(why is None, f"opentracker: {why}")
        c.port = free_port()
        c.http_port = c.port
        d = tempdir("opentracker")
        # Debian's opentracker serves only whitelisted info hashes: allow()
        # adds each one and asks for a reload (SIGHUP).
        c.whitelist = os.path.join(d, "whitelist")
        open(c.whitelist, "w").close()
        # It chroots to d and drops to user nobody, who must read the list.
        os.chmod(d, 0o755)
        os.chmod(c.whitelist, 0o644)
        c.tracker = Proc(["opentracker", "-i", HOST, "-p", str(c.port), "-P", str(c.port),
                          "-d", d, "-w", "whitelist"], d, "opentracker", stdin_devnull=True)
        t.watch(c.tracker)
        wait_for(lambda: _answers_connect(), timeout=10, what="opentracker to answer")
else:
    @t.setup("tt tracker starts with --http 127.0.0.1:0")
    def _():
        c.tracker = start_tracker(tt, extra=["--http", "127.0.0.1:0"])
        t.watch(c.tracker)
        m = c.tracker.expect(r"^HTTP status at http://127\.0\.0\.1:(\d+)/$")
        c.port = c.tracker.port
        c.http_port = int(m.group(1))


# The pairs of one transport fail at once (not after their timeouts) when
# the tracker did not answer that transport's probe.
c.broken = {}


@t.test("the tracker answers a BEP 15 connect on its UDP port")
def _():
    c.broken["udp"] = "the tracker did not answer BEP 15 connect (check above)"
    s, cid = bep15_connect(c.port)
    s.close()
    require(cid != 0x41727101980, "the connection id is the protocol magic")
    del c.broken["udp"]


@t.test("the tracker answers an HTTP announce on its --http listener")
def _():
    c.broken["http"] = "the tracker did not answer an HTTP announce (check above)"
    ih = os.urandom(20)
    allow(ih)
    status, body = http_get(c.http_port, "/announce?" + announce_query(ih, "started"))
    require(status == 200, f"HTTP announce answered {status}: {body[:120]!r}")
    d, _ = bdecode(body)
    require(isinstance(d, dict) and b"interval" in d,
            f"HTTP announce answer has no interval: {body[:160]!r}")
    del c.broken["http"]


PAIRS = [
    ("libtorrent", "transmission", "udp"),
    ("transmission", "libtorrent", "udp"),
    ("libtorrent", "aria2", "http"),
    ("aria2", "transmission", "http"),
]

if os.environ.get("TT_BT_PAIRS"):  # e.g. "1,3": only those pairs (by hand, debugging)
    PAIRS = [PAIRS[int(i)] for i in os.environ["TT_BT_PAIRS"].split(",")]

problems = {}
for seeder, leecher, transport in PAIRS:
    desc = f"{leecher} downloads a 3 MiB file seeded by {seeder} over {transport.upper()} " \
           "tracker announces, byte-identical"
    why = None
    for kind in (seeder, leecher):
        if kind not in problems:
            problems[kind] = client_problem(kind)
        why = why or (problems[kind] and f"{kind} cannot start: {problems[kind]}")
    if why and not t.skip_reason:
        t.skip(desc, why)
        continue

    @t.test(desc)
    def _():
        run_pair(seeder, leecher, transport)


@t.test("the tracker is still running after the pairs")
def _():
    require(c.tracker.alive(), f"the tracker exited (code {c.tracker.poll()})")


if hasattr(c, "tracker"):
    c.tracker.stop()
t.done()
