"""The lossy relay: a UDP relay between clients and a tracker that drops a
share of the datagrams each way, for control-plane tests under loss.
"""

import random
import selectors
import socket
import threading

from checks import HOST
from procs import on_cleanup


class LossyRelay:
    """A UDP relay between clients and a tracker that drops a share of the
    datagrams each way (one random.Random per direction, fixed seeds). Each
    client address gets its own upstream socket, so the tracker sees a distinct
    source port per client and answers go back to the client from the relay's
    port. Counters: passed_up/dropped_up (client -> tracker) and
    passed_down/dropped_down (tracker -> client)."""

    def __init__(self, target_port, drop=0.2, seed=1):
        self.target = (HOST, target_port)
        self.drop = drop
        self._rng_up = random.Random(seed)
        self._rng_down = random.Random(seed + 1)
        self.passed_up = self.dropped_up = self.passed_down = self.dropped_down = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self._up = {}    # client address -> upstream socket
        self._down = {}  # upstream socket -> client address
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.sock, selectors.EVENT_READ)
        self._stop = threading.Event()
        on_cleanup(self.close)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def clients(self):
        return len(self._up)

    def _upstream(self, addr):
        s = self._up.get(addr)
        if s is None:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((HOST, 0))
            s.setblocking(False)
            self._up[addr] = s
            self._down[s] = addr
            self._sel.register(s, selectors.EVENT_READ)
        return s

    def _loop(self):
        while not self._stop.is_set():
            try:
                events = self._sel.select(0.2)
            except (OSError, ValueError):
                return
            for key, _ in events:
                s = key.fileobj
                try:
                    data, addr = s.recvfrom(65535)
                except (BlockingIOError, InterruptedError, ConnectionRefusedError):
                    continue
                except OSError:
                    if self._stop.is_set():
                        return
                    continue
                try:
                    if s is self.sock:
                        up = self._upstream(addr)
                        if self._rng_up.random() < self.drop:
                            self.dropped_up += 1
                        else:
                            self.passed_up += 1
                            up.sendto(data, self.target)
                    else:
                        if self._rng_down.random() < self.drop:
                            self.dropped_down += 1
                        else:
                            self.passed_down += 1
                            self.sock.sendto(data, self._down[s])
                except OSError:
                    pass  # a client or the tracker gone: the datagram is lost

    def stats(self):
        return (f"relay: client->tracker {self.passed_up} passed, {self.dropped_up} dropped; "
                f"tracker->client {self.passed_down} passed, {self.dropped_down} dropped; "
                f"{self.clients()} client addresses")

    def close(self):
        self._stop.set()
        self._thread.join(1.0)
        for s in [self.sock, *self._up.values()]:
            try:
                s.close()
            except OSError:
                pass
        try:
            self._sel.close()
        except (OSError, ValueError):
            pass
