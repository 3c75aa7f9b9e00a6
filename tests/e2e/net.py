"""Sockets on 127.0.0.1: UDP sockets and one-datagram questions to a tracker,
the shape of tracker answers (`peer_list`, `is_error`), bare listeners, and
`serve_in_background`, the accept loop the python test servers share. Every
socket made here is closed at exit.
"""

import json
import socket
import threading

from checks import CheckFailed, HOST, budget, require
from procs import on_cleanup


def udp_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    on_cleanup(s.close)
    return s


def udp_socket_on(ip):
    """A UDP socket bound to `ip` (any 127.x address works as a source on Linux)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 0))
    on_cleanup(s.close)
    return s


def tcp_listener():
    """A bare listening TCP socket on 127.0.0.1 (never accepts: the kernel completes
    connects, enough for a tracker's liveness probe). Returns the socket; .close()
    it to make the port refuse connections."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    s.listen(256)
    on_cleanup(s.close)
    return s


def recv_answer(sock, timeout=3.0):
    """The next datagram on sock (bytes), or None within timeout."""
    sock.settimeout(budget(timeout))
    try:
        data, _ = sock.recvfrom(65535)
        return data
    except socket.timeout:
        return None


def udp_ask(port, payload, timeout=3.0, sock=None):
    """Send one datagram (bytes, str, or an object to encode as JSON) to
    127.0.0.1:port and return the raw answer bytes, or None if none came."""
    if isinstance(payload, (dict, list)):
        payload = json.dumps(payload).encode()
    elif isinstance(payload, str):
        payload = payload.encode()
    s = sock or udp_socket()
    s.setblocking(False)
    while True:  # drop stale answers
        try:
            s.recv(65535)
        except (BlockingIOError, InterruptedError):
            break
    s.setblocking(True)
    s.sendto(payload, (HOST, port))
    return recv_answer(s, timeout)


def udp_ask_json(port, payload, timeout=3.0, sock=None):
    raw = udp_ask(port, payload, timeout, sock)
    require(raw is not None, f"no answer from 127.0.0.1:{port} to {str(payload)[:120]}")
    require(len(raw) <= 1024, f"answer is {len(raw)} bytes, more than 1024")
    try:
        return json.loads(raw)
    except ValueError:
        raise CheckFailed(f"answer is not JSON: {raw[:200]!r}")


def peer_list(answer):
    """The `peers` of a get_peers answer as a list of (ip, port) tuples."""
    require(isinstance(answer, dict) and isinstance(answer.get("peers"), list),
            f"not a get_peers answer: {answer!r}")
    out = []
    for entry in answer["peers"]:
        require(isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                and isinstance(entry[1], int), f"bad peers entry {entry!r}")
        out.append((entry[0], entry[1]))
    return out


def is_error(answer):
    return (isinstance(answer, dict) and answer.get("status") == "error"
            and isinstance(answer.get("message"), str) and answer["message"] != "")


def serve_in_background(server):
    """Gives a test server a listening socket on 127.0.0.1 (a port of the
    kernel's choosing, in server.port) and a thread that accepts connections
    until server._stop is set, handing each to server._accepted(conn)."""
    server._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server._sock.bind((HOST, 0))
    server._sock.listen(64)
    server._sock.settimeout(0.5)
    server.port = server._sock.getsockname()[1]
    on_cleanup(server.close)

    def accept_loop():
        while not server._stop.is_set():
            try:
                conn, _ = server._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            server._accepted(conn)

    threading.Thread(target=accept_loop, daemon=True).start()
