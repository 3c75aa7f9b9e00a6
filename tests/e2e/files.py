"""Files on disk: random and given contents, digests, the download temp and
part files tt leaves (or must not leave), and tt's log files.
"""

import hashlib
import os
import re
import time

from checks import require


LOG_LINE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),(\d{3}) - (.+)$")
TEMP_PREFIX = ".tt-dl-"


def write_random(path, size, chunk=1 << 20):
    """Write `size` random bytes; return their SHA-256 hex digest."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left > 0:
            block = os.urandom(min(chunk, left))
            h.update(block)
            f.write(block)
            left -= len(block)
    return h.hexdigest()


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def temp_files(d):
    """Download temp files (.tt-dl-*) left in directory d."""
    return sorted(n for n in os.listdir(d) if n.startswith(TEMP_PREFIX))


def absent(d, name):
    """Check that nothing is under `name` in directory `d`."""
    require(not os.path.exists(os.path.join(d, name)), f"{name} exists in {d}")


def same_file(path, expected_sha, what=None):
    require(os.path.isfile(path), f"{what or path} does not exist")
    got = sha256_file(path)
    require(got == expected_sha,
            f"{what or path} differs from the original (size {os.path.getsize(path)})")


def clean_copy(d, name, expected_sha, who):
    """Check that directory d holds NAME byte-identical and no part or temp file."""
    same_file(os.path.join(d, name), expected_sha, f"{who}'s copy")
    require(part_files(d) == [], f"{who}: part files {part_files(d)}")
    require(temp_files(d) == [], f"{who}: temp files {temp_files(d)}")


def nothing_left(d, name):
    """Check that a failed download left nothing in directory d: nothing under
    NAME, no part file and no temp file."""
    absent(d, name)
    require(part_files(d) == [], f"part files {part_files(d)} in {d}")
    require(temp_files(d) == [], f"temp files {temp_files(d)} in {d}")


def part_name(cid):
    """The name of the part file a download of content id `cid` goes to."""
    return ".tt-part-" + cid[:16]


def part_files(d):
    """Part files (.tt-part-*) in directory d."""
    return sorted(n for n in os.listdir(d) if n.startswith(".tt-part-"))


def read_log(path):
    """The lines of a log file, or [] when it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return []


def log_messages(path):
    """The message part of every well-formed log line."""
    out = []
    for line in read_log(path):
        m = LOG_LINE_RE.match(line)
        if m:
            out.append(m.group(3))
    return out


def check_log_format(path, max_skew=600):
    """Every line is `YYYY-MM-DD HH:MM:SS,mmm - message` with a recent local time."""
    lines = read_log(path)
    require(lines, f"log file {path} is missing or empty")
    now = time.time()
    for line in lines:
        m = LOG_LINE_RE.match(line)
        require(m, f"{path}: malformed log line {line!r}")
        stamp = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
        require(abs(stamp - now) < max_skew,
                f"{path}: timestamp {m.group(1)} is not local time now")
    return lines
