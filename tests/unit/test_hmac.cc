// Unit tests for hmac.cc: RFC 4231's HMAC-SHA256 test vectors, through one
// keyed context used again and again, as the tracker uses it.
#include <catch2/catch.hpp>
#include <string>

#include "hmac.h"
#include "manifest.h"

static std::string mac_hex(const Hmac* h, const std::string& msg) {
  unsigned char out[kHmacLen];
  REQUIRE(hmac_sha256(h, msg.data(), msg.size(), out) == 0);
  return manifest_hex(out, kHmacLen);
}

TEST_CASE("hmac: RFC 4231 test cases 1, 2 and 6", "[hmac]") {
  struct Vector {
    std::string key, data, mac;
  };
  const Vector vectors[] = {
      {std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
  };
  for (const Vector& v : vectors) {
    Hmac h;
    REQUIRE(hmac_init(&h, reinterpret_cast<const unsigned char*>(v.key.data()), v.key.size()) == 0);
    // The same context, again and again: each message starts from the key.
    CHECK(mac_hex(&h, v.data) == v.mac);
    CHECK(mac_hex(&h, v.data) == v.mac);
    CHECK(mac_hex(&h, v.data + "x") != v.mac);
    CHECK(mac_hex(&h, v.data) == v.mac);
    hmac_free(&h);
    CHECK(h.ctx == nullptr);
  }
}

TEST_CASE("hmac: keying again replaces the key", "[hmac]") {
  Hmac h;
  const unsigned char jefe[] = {'J', 'e', 'f', 'e'};
  REQUIRE(hmac_init(&h, jefe, sizeof jefe) == 0);
  std::string first = mac_hex(&h, "Hi There");
  std::string key(20, '\x0b');
  REQUIRE(hmac_init(&h, reinterpret_cast<const unsigned char*>(key.data()), key.size()) == 0);
  CHECK(mac_hex(&h, "Hi There") ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(first != mac_hex(&h, "Hi There"));
  hmac_free(&h);
  hmac_free(&h);  // freeing twice is harmless
}
