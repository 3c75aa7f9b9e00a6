"""A file's pieces, manifest and content id computed as tt computes them
(PROTOCOL §2), and the hex bitfields of `have` answers.
"""

from files import sha256


MIN_PIECE_SIZE = 256 * 1024
MAX_PIECE_SIZE = 16 << 20
MAX_PIECES_WANTED = 1024


def piece_size_for(size):
    """tt's piece size for a file of `size` bytes: a power of two from 256 KiB
    up, the smallest that keeps the file at most 1024 pieces (16 MiB at most)."""
    ps = MIN_PIECE_SIZE
    while ps < MAX_PIECE_SIZE and (size + ps - 1) // ps > MAX_PIECES_WANTED:
        ps <<= 1
    return ps


class Content:
    """A file's bytes with the manifest and content id tt computes for them: the
    id is the SHA-256 of {"piece_size":N,"pieces":["hex",...],"size":N} (no
    spaces, name excluded)."""

    def __init__(self, data, piece_size=None):
        self.data = data
        self.size = len(data)
        self.sha = sha256(data)
        self.piece_size = piece_size or piece_size_for(self.size)
        self.count = (self.size + self.piece_size - 1) // self.piece_size
        self.pieces = [sha256(self.piece(i)) for i in range(self.count)]
        canonical = '{"piece_size":%d,"pieces":[%s],"size":%d}' % (
            self.piece_size, ",".join(f'"{h}"' for h in self.pieces), self.size)
        self.id = sha256(canonical.encode())

    def piece(self, i):
        return self.data[i * self.piece_size:(i + 1) * self.piece_size]

    def piece_len(self, i):
        return len(self.piece(i))

    def manifest(self, name):
        return {"name": name, "size": self.size, "piece_size": self.piece_size,
                "pieces": list(self.pieces)}

    def verified_in(self, path):
        """Indices of the pieces that are present and hash right in the file at
        `path` (a .tt-part-* file, say); [] when it does not exist."""
        good = []
        try:
            with open(path, "rb") as f:
                for i in range(self.count):
                    f.seek(i * self.piece_size)
                    if sha256(f.read(self.piece_len(i))) == self.pieces[i]:
                        good.append(i)
        except OSError:
            return []
        return good


def bitfield_hex(indices, count):
    """The hex bitfield of a `have` answer: piece i is bit 7 - i%8 of byte i//8."""
    b = bytearray((count + 7) // 8)
    for i in indices:
        if 0 <= i < count:
            b[i // 8] |= 0x80 >> (i % 8)
    return b.hex()


def bitfield_indices(hexstr, count):
    """The piece indices set in a hex bitfield."""
    b = bytes.fromhex(hexstr)
    return [i for i in range(count) if i // 8 < len(b) and b[i // 8] & (0x80 >> (i % 8))]
