// Content identity (PROTOCOL §3): a file's manifest (size, piece size, SHA-256 of
// every piece) and its content id, the SHA-256 of the manifest's canonical
// encoding. Hashing is plain blocking code: the peer runs it on libuv's
// threadpool (manifest_hash_start), `tt id` runs it directly.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

typedef std::array<unsigned char, 32> Sha256;

struct Manifest {
  std::string name;  // not part of the id: renamed copies share one
  uint64_t size = 0;
  uint32_t piece_size = 0;
  std::vector<Sha256> pieces;
  std::string id;  // 64 hex digits
};

// The piece size for a file of `size` bytes: a power of two from 256 KiB up,
// large enough that a file has at most 1024 pieces.
uint32_t manifest_piece_size(uint64_t size);
// Counted in 64 bits and clamped: a size near 2^64 never wraps to a few pieces.
uint32_t manifest_piece_count(const Manifest& m);
uint32_t manifest_piece_length(const Manifest& m, uint32_t index);
// {"piece_size":N,"pieces":["hex",...],"size":N}: sorted keys, no blanks.
void manifest_canonical(const Manifest& m, std::string* out);
// Sets m->id from the canonical encoding.
void manifest_set_id(Manifest* m);
std::string manifest_hex(const unsigned char* bytes, size_t n);
Sha256 manifest_sha256(const void* data, size_t n);

// Hashes the file at path (blocking). Returns 0 or a negative errno, with *err.
int manifest_hash_file(const std::string& path, Manifest* m, std::string* err);

// The wire form: {"name":..,"size":..,"piece_size":..,"pieces":[..]}.
void manifest_encode(const Manifest& m, std::string* out);
// Decodes and checks the wire form; the id is computed, not trusted. 0 or -1 with *err.
// Refuses piece sizes out of range, a piece count that does not follow from the
// size, and more than kMaxManifestPieces pieces.
int manifest_decode(const char* data, size_t len, Manifest* m, std::string* err);
// Checks a decoded manifest against what the tracker announced: the content id
// and, when announced (>= 0), the size. 0, or -1 with a one-line *err.
int manifest_check(const Manifest& m, const std::string& cid, int64_t announced_size,
                   std::string* err);

// Hashing off the loop thread. done runs on the loop with status 0 or a
// negative errno; the HashJob is freed after it returns.
struct HashJob;
typedef void (*HashDoneCb)(void* ctx, int status, const Manifest* m, const std::string& err);
int manifest_hash_start(uv_loop_t* loop, const std::string& path, HashDoneCb done, void* ctx);
