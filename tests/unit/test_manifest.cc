// manifest: piece sizes, the canonical encoding, ids, and the wire form.
#include <openssl/evp.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <string>

#include "manifest.h"

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
