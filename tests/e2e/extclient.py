"""Python clients of the extended forms: `ExtClient` speaks the extended
control plane to a tracker ("v":1, seq, token) and `ExtConn` the extended
TCP form to a tt peer.
"""

import json
import socket

from checks import HOST, CheckFailed, budget, require
from net import udp_ask, udp_socket
from procs import on_cleanup


class ExtClient:
    """A python client that speaks the extended control plane ("v":1, seq, token)
    from one UDP socket of its own. Nothing is retransmitted: each call sends one
    datagram and returns (answer object or None, raw bytes or None)."""

    def __init__(self, tracker_port, peer_id, tcp_port=None, sock=None):
        self.tracker_port = tracker_port
        self.peer_id = peer_id
        self.tcp_port = tcp_port
        self.sock = sock or udp_socket()
        self.udp_port = self.sock.getsockname()[1]
        self.seq = 1000
        self.token = None
        self.interval = None

    def request(self, action, token="own", extended=True, timeout=3.0, **fields):
        """Send one request. token: "own" (the join's token, if any), None (no
        token field) or a string to send as is. Returns (answer, raw)."""
        msg = {"action": action, "peer_id": self.peer_id, **fields}
        if extended:
            self.seq += 1
            msg["v"] = 1
            msg["seq"] = self.seq
            tok = self.token if token == "own" else token
            if tok is not None:
                msg["token"] = tok
        raw = udp_ask(self.tracker_port, msg, timeout, self.sock)
        if raw is None:
            return None, None
        try:
            return json.loads(raw), raw
        except ValueError:
            raise CheckFailed(f"answer to {action} is not JSON: {raw[:200]!r}")

    def join(self, files=(), **kw):
        answer, raw = self.request("join", token=None, files=list(files), tcp_port=self.tcp_port, **kw)
        if isinstance(answer, dict) and answer.get("status") == "ok":
            self.token = answer.get("token")
            self.interval = answer.get("interval")
        return answer, raw


def ext_get_peers(client, name):
    """An extended get_peers from an ExtClient; returns the answer object."""
    answer, _ = client.request("get_peers", file_name=name)
    require(isinstance(answer, dict) and answer.get("status") == "ok",
            f"get_peers {name}: {answer!r}")
    return answer


class ExtConn:
    """A python client of the extended TCP form, for asking a tt peer directly."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection((HOST, port), timeout=budget(timeout))
        self.sock.settimeout(budget(timeout))
        on_cleanup(self.close)
        self.buf = b""

    def send(self, obj):
        self.sock.sendall((json.dumps(obj) + "\n").encode())

    def _line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise CheckFailed(f"connection closed; unread {self.buf[:200]!r}")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            raise CheckFailed(f"answer line is not JSON: {line[:200]!r}")

    def _bytes(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(1 << 20)
            if not data:
                raise CheckFailed(f"connection closed after {len(self.buf)} of {n} bytes")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def ask(self, obj):
        """Sends one request; returns (answer line, piece bytes or None)."""
        self.send(obj)
        answer = self._line()
        data = None
        if answer.get("status") == "ok" and obj.get("action") == "piece":
            data = self._bytes(int(answer.get("length", 0)))
        return answer, data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
