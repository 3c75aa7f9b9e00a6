"""Python sources for tt downloaders: `ExtServer` serves the extended TCP form
and can hold only some pieces, lie, stall, pause or drip; `ExtSource`
registers one at a tracker, `SeedFormSource` registers a seed-form server
with the size and id a tracker should announce.
"""

import json
import threading
import time

from checks import require
from content import bitfield_hex
from extclient import ExtClient
from net import serve_in_background
from seed import SeedServer


class ExtServer:
    """A python source that speaks the extended TCP form (PROTOCOL §2): one
    thread per connection, pipelined requests answered in order. `files` maps
    names to Content. Options (for every file it serves):

    have      the piece indices it holds (None: all); `have` answers and piece
              requests follow it, other pieces get {"status":"error"}
    corrupt   piece indices (or "all") sent with their first byte flipped
    gate      None, or how many pieces it sends in all before holding every
              further piece answer until open_gate() (set_gate(n) allows n more)
    delay     seconds to wait before each piece answer
    manifest  a manifest object to send instead of the right one
    garbage   answer every request with a line that is not JSON
    seed_form serve a bare-name (seed-form) request with the whole file, when
              it holds every piece; otherwise such a request is just closed
    mid_pause seconds to pause in the middle of each piece's bytes
    drip      seconds between the bytes of each piece (a drip: one piece's
              bytes for 60 s at most, then the connection is closed)

    Records: accepted (connections so far), requests [(conn, action, index)],
    sent [(conn, index)] for each piece sent whole, with the conn number
    (1, 2, ...) of the connection."""

    def __init__(self, files, have=None, corrupt=(), gate=None, delay=0.0, manifest=None,
                 garbage=False, seed_form=False, mid_pause=0.0, drip=0.0):
        self.files = dict(files)
        self.mid_pause = mid_pause
        self.drip = drip
        self.have = None if have is None else set(have)
        self.corrupt = corrupt if corrupt == "all" else set(corrupt)
        self.delay = delay
        self.manifest_override = manifest
        self.garbage = garbage
        self.seed_form = seed_form
        self.accepted = 0
        self.requests = []
        self.sent = []
        self._gate = gate
        self._granted = 0
        self._waiting = 0
        self._cond = threading.Condition()
        self._conns = []
        self._stop = threading.Event()
        serve_in_background(self)

    # -- the gate
    def set_gate(self, n):
        """Allow n more pieces from now on, then hold again."""
        with self._cond:
            self._gate = self._granted + n
            self._cond.notify_all()

    def open_gate(self):
        with self._cond:
            self._gate = None
            self._cond.notify_all()

    def granted(self):
        with self._cond:
            return self._granted

    def waiting_at_gate(self):
        """True once a piece answer is being held by the gate."""
        with self._cond:
            return self._waiting > 0

    def _pass_gate(self):
        with self._cond:
            self._waiting += 1
            while self._gate is not None and self._granted >= self._gate and not self._stop.is_set():
                self._cond.wait(0.2)
            self._waiting -= 1
            if self._stop.is_set():
                return False
            self._granted += 1
            return True

    def sent_on(self, conns):
        """Indices of pieces sent whole on the given connection numbers."""
        return [i for (n, i) in list(self.sent) if n in conns]

    # -- serving
    def _accepted(self, conn):
        self.accepted += 1
        self._conns.append(conn)
        threading.Thread(target=self._serve, args=(conn, self.accepted), daemon=True).start()

    def _serve(self, conn, no):
        buf = b""
        try:
            conn.settimeout(120)
            while not self._stop.is_set():
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                if not buf.startswith(b"{"):
                    self._serve_seed(conn, buf)
                    return
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not self._answer(conn, no, line):
                        return
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _serve_seed(self, conn, buf):
        content = self.files.get(buf.decode("utf-8", "replace"))
        if content is None or not self.seed_form:
            return
        if self.have is not None and len(self.have & set(range(content.count))) < content.count:
            return
        conn.sendall(content.data)

    def _error(self, conn, message):
        conn.sendall((json.dumps({"status": "error", "message": message}) + "\n").encode())
        return True

    def _answer(self, conn, no, line):
        """Answers one request line; False to end the connection."""
        if self.garbage:
            self.requests.append((no, "garbage", None))
            conn.sendall(b"this is not JSON at all\n")
            return True
        try:
            req = json.loads(line)
        except ValueError:
            return self._error(conn, "a request is one JSON object per line")
        if not isinstance(req, dict):
            return self._error(conn, "a request is one JSON object per line")
        action, name, index = req.get("action"), req.get("file"), req.get("index")
        self.requests.append((no, action, index))
        content = self.files.get(name)
        if content is None:
            return self._error(conn, f"no such file: {name}")
        holds = set(range(content.count)) if self.have is None else self.have
        if action == "manifest":
            m = self.manifest_override or content.manifest(name)
            conn.sendall((json.dumps({"status": "ok", "manifest": m}) + "\n").encode())
            return True
        if action == "have":
            conn.sendall((json.dumps({"status": "ok",
                                      "pieces": bitfield_hex(holds, content.count)}) + "\n").encode())
            return True
        if action != "piece":
            return self._error(conn, f"unknown action {action!r}")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < content.count:
            return self._error(conn, "bad index")
        if index not in holds:
            return self._error(conn, f"piece {index} is not here")
        if not self._pass_gate():
            return False
        if self.delay and self._stop.wait(self.delay):
            return False
        data = content.piece(index)
        if self.corrupt == "all" or index in self.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        head = json.dumps({"status": "ok", "index": index, "length": len(data)}) + "\n"
        if self.drip:
            conn.sendall(head.encode())
            end = time.monotonic() + 60
            for k in range(len(data)):
                if time.monotonic() > end or self._stop.wait(self.drip):
                    return False
                conn.sendall(data[k:k + 1])
        elif self.mid_pause:
            half = len(data) // 2
            conn.sendall(head.encode() + data[:half])
            if self._stop.wait(self.mid_pause):
                return False
            conn.sendall(data[half:])
        else:
            conn.sendall(head.encode() + data)
        self.sent.append((no, index))
        return True

    def close(self):
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for s in [self._sock, *self._conns]:
            try:
                s.close()
            except OSError:
                pass


class ExtSource:
    """An ExtServer registered at the tracker by an ExtClient (extended join,
    then share_file with size, id and complete). .server, .port, .client."""

    def __init__(self, tracker_port, peer_id, name, content, complete=True, announce=None,
                 **server_opts):
        self.server = ExtServer({name: content}, **server_opts)
        self.port = self.server.port
        self.peer_id = peer_id
        self.client = ExtClient(tracker_port, peer_id, tcp_port=self.port)
        answer, _ = self.client.join([])
        require(isinstance(answer, dict) and answer.get("status") == "ok",
                f"join of {peer_id}: {answer!r}")
        fields = {"file": name, "size": content.size, "id": content.id, "complete": complete}
        fields.update(announce or {})
        answer, _ = self.client.request("share_file", **fields)
        require(isinstance(answer, dict) and answer.get("status") == "ok",
                f"share_file of {peer_id}: {answer!r}")


class SeedFormSource:
    """A SeedServer (seed form only: it cannot send a manifest) registered at the
    tracker by an ExtClient with share_file, so that the tracker announces the
    `size` and `cid` given (None: not sent). .server, .port, .client."""

    def __init__(self, tracker_port, peer_id, name, data, size=None, cid=None, **server_opts):
        self.server = SeedServer({name: data}, **server_opts)
        self.port = self.server.port
        self.client = ExtClient(tracker_port, peer_id, tcp_port=self.port)
        answer, _ = self.client.join([])
        require(isinstance(answer, dict) and answer.get("status") == "ok",
                f"join of {peer_id}: {answer!r}")
        fields = {"file": name}
        if size is not None:
            fields["size"] = size
        if cid is not None:
            fields["id"] = cid
        answer, _ = self.client.request("share_file", **fields)
        require(isinstance(answer, dict) and answer.get("status") == "ok",
                f"share_file of {peer_id}: {answer!r}")
