// manifest: piece sizes, the canonical encoding, ids, and the wire form.
#include <openssl/evp.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <string>

#include "limits.h"
#include "manifest.h"
#include "place.h"
#include "sha_string.h"

TEST_CASE("manifest: piece sizes are powers of two that keep at most 1024 pieces", "[manifest]") {
  CHECK(manifest_piece_size(0) == 256 * 1024);
  CHECK(manifest_piece_size(256ull << 20) == 256 * 1024);
  CHECK(manifest_piece_size((256ull << 20) + 1) == 512 * 1024);
  CHECK(manifest_piece_size(1ull << 30) == 1024 * 1024);
  CHECK(manifest_piece_size(1ull << 40) == 16 * 1024 * 1024);
}

TEST_CASE("manifest: the id is the SHA-256 of the canonical encoding, name excluded",
          "[manifest]") {
  Manifest m;
  m.name = "a.txt";
  m.size = 3;
  m.piece_size = 262144;
  m.pieces.push_back(manifest_sha256("abc", 3));
  std::string c;
  manifest_canonical(m, &c);
  CHECK(
      c ==
      R"({"piece_size":262144,"pieces":["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],"size":3})");
  manifest_set_id(&m);
  Sha256 h = manifest_sha256(c.data(), c.size());
  CHECK(m.id == manifest_hex(h.data(), h.size()));
  Manifest renamed = m;
  renamed.name = "b.txt";
  manifest_set_id(&renamed);
  CHECK(renamed.id == m.id);
}

// manifest_sha256 hashes in 4 KiB steps with a prefetch: at every length
// around the step size it must agree with OpenSSL's one-shot SHA-256.
TEST_CASE("manifest: the stepped SHA-256 equals the one-shot one at any length", "[manifest]") {
  std::string data(3 * 4096 + 100, '\0');
  for (size_t i = 0; i < data.size(); i++)
    data[i] = static_cast<char>((i * 131 + 7) % 251);
  CHECK(manifest_hex(manifest_sha256("", 0).data(), 32) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  for (size_t n : {size_t{1}, size_t{63}, size_t{4095}, size_t{4096}, size_t{4097}, size_t{8192},
                   size_t{8193}, data.size()}) {
    Sha256 want;
    unsigned int len = 0;
    REQUIRE(EVP_Digest(data.data(), n, want.data(), &len, EVP_sha256(), nullptr) == 1);
    INFO("length " << n);
    CHECK(manifest_sha256(data.data(), n) == want);
  }
}

TEST_CASE("manifest: hashing a file, and the wire form round trip", "[manifest]") {
  char path[] = "/tmp/tt-unit-manifest-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  std::string data(600 * 1024, 'x');
  data[300000] = 'y';
  REQUIRE(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  close(fd);
  Manifest m;
  std::string err;
  REQUIRE(manifest_hash_file(path, &m, &err) == 0);
  CHECK(m.size == data.size());
  REQUIRE(manifest_piece_count(m) == 3);
  CHECK(manifest_piece_length(m, 2) == 600 * 1024 - 2 * 262144);
  CHECK(m.pieces[1] == manifest_sha256(data.data() + 262144, 262144));
  m.name = "x.bin";
  std::string wire;
  manifest_encode(m, &wire);
  Manifest back;
  REQUIRE(manifest_decode(wire.data(), wire.size(), &back, &err) == 0);
  CHECK(back.id == m.id);
  CHECK(back.name == "x.bin");
  unlink(path);
  CHECK(manifest_hash_file(path, &m, &err) < 0);
}

TEST_CASE("manifest: a malformed manifest is refused", "[manifest]") {
  Manifest m;
  std::string err;
  const char* bad[] = {
      "[]",
      R"({"size":1,"piece_size":262144,"pieces":[]})",
      R"({"size":1,"piece_size":1000,"pieces":["00"]})",
      R"({"size":-1,"piece_size":262144,"pieces":[]})",
      R"({"size":1,"piece_size":262144,"pieces":["zz"]})",
      // Sizes whose piece count wraps in 32 or 64 bits are not empty files.
      R"({"size":18446744073709551615,"piece_size":262144,"pieces":[]})",
      R"({"size":1125899906842624,"piece_size":262144,"pieces":[]})",
  };
  for (const char* b : bad) {
    INFO(b);
    CHECK(manifest_decode(b, strlen(b), &m, &err) == -1);
  }
}

// A manifest of `count` pieces (all hashes alike) for a file of `size` bytes.
static std::string manifest_json(uint64_t size, uint32_t piece_size, uint64_t count) {
  std::string j = "{\"size\":" + std::to_string(size) +
                  ",\"piece_size\":" + std::to_string(piece_size) + ",\"pieces\":[";
  for (uint64_t i = 0; i < count; i++)
    j += (i > 0 ? ",\"" : "\"") + std::string(64, 'a') + "\"";
  return j + "]}";
}

TEST_CASE("manifest: more pieces than kMaxManifestPieces are refused, however consistent",
          "[manifest]") {
  Manifest m;
  std::string err;
  const uint32_t ps = 262144;
  std::string ok = manifest_json(kMaxManifestPieces * ps, ps, kMaxManifestPieces);
  CHECK(manifest_decode(ok.data(), ok.size(), &m, &err) == 0);
  CHECK(manifest_piece_count(m) == kMaxManifestPieces);
  // One more piece (a size that needs it, and its hash): the picker, the part
  // file's bookkeeping and every request's want set grow with the count.
  std::string big = manifest_json(kMaxManifestPieces * ps + 1, ps, kMaxManifestPieces + 1);
  CHECK(manifest_decode(big.data(), big.size(), &m, &err) == -1);
  CHECK(err == "manifest lists more pieces than tt accepts");
}

TEST_CASE("manifest: the piece count never wraps, whatever the size", "[manifest]") {
  Manifest m;
  m.piece_size = 262144;
  m.size = UINT64_MAX;
  CHECK(manifest_piece_count(m) == UINT32_MAX);  // clamped, not (2^64 - 1 + ps - 1) / ps == 0
  m.size = 0;
  CHECK(manifest_piece_count(m) == 0);
  m.piece_size = 0;
  m.size = 5;
  CHECK(manifest_piece_count(m) == 0);
}

TEST_CASE("manifest: checked against the content id and the size the tracker announced",
          "[manifest]") {
  Manifest m;
  std::string err;
  std::string j = manifest_json(300000, 262144, 2);
  REQUIRE(manifest_decode(j.data(), j.size(), &m, &err) == 0);
  CHECK(manifest_check(m, m.id, 300000, &err) == 0);
  CHECK(manifest_check(m, m.id, -1, &err) == 0);  // no size announced: the id alone
  CHECK(manifest_check(m, std::string(64, '0'), 300000, &err) == -1);
  CHECK(err == "sent a manifest that does not match the content id");
  // A source that announced 100 bytes may not send the manifest of a bigger file.
  CHECK(manifest_check(m, m.id, 100, &err) == -1);
  CHECK(err == "sent a manifest for 300000 bytes; the tracker announced 100");
  // Nor of an empty one (an empty file would be linked at once).
  std::string empty = manifest_json(0, 262144, 0);
  REQUIRE(manifest_decode(empty.data(), empty.size(), &m, &err) == 0);
  CHECK(manifest_check(m, m.id, 100, &err) == -1);
}

TEST_CASE("place_check_space: a size that does not fit fails at once, with the figures",
          "[manifest]") {
  std::string err;
  CHECK(place_check_space("/tmp", 1, &err) == 0);
  CHECK(place_check_space("/tmp", UINT64_MAX / 2, &err) == UV_ENOSPC);
  CHECK(err.find(
            "not enough free space in /tmp: need 8.0 EiB (9223372036854775807 bytes), have ") == 0);
  CHECK(place_check_space("/nonexistent-tt-dir", 1, &err) == UV_ENOENT);
}
