"""Python imitations of the seed implementation, for checking that tt still
works with it: `SeedServer` (a seed peer's TCP side, honest or not),
`SeedPeer` (its UDP requests to a tracker), `SeedTracker` (the seed tracker's
five actions and silences), and `seed_download` (a seed-form client).
"""

import json
import socket
import threading
import time

from checks import DEFAULT_TIMEOUT, HOST, CheckFailed, budget, eq, wait_for
from net import serve_in_background, udp_ask_json, udp_socket
from procs import on_cleanup


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
        serve_in_background(self)

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


def joined_seed_source(tracker_port, peer_id, name, data, mode="full"):
    """A SeedPeer that serves NAME (bytes `data`) in `mode`, joined at the tracker
    with that one file; a join answer other than {"status": "ok"} fails the check."""
    src = SeedPeer(tracker_port, peer_id, {name: data}, mode)
    eq(src.join([name]), {"status": "ok"}, f"join answer of seed source {peer_id}")
    return src


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
        on_cleanup(self.close)
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
