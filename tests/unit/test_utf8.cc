// Unit tests for utf8.cc: the decoder both the protocol's name checks and the
// console's sanitiser use.
#include <catch2/catch.hpp>
#include <string>

#include "utf8.h"

static bool valid(const std::string& s) {
  return utf8_valid(s.data(), s.size());
}

static size_t decode(const std::string& s, uint32_t* cp) {
  return utf8_decode(reinterpret_cast<const unsigned char*>(s.data()), s.size(), cp);
}

TEST_CASE("utf8: each sequence length decodes to its code point", "[utf8]") {
  uint32_t cp = 0;
  CHECK(decode("\xc3\xa9", &cp) == 2);
  CHECK(cp == 0xe9);
  CHECK(decode("\xe2\x80\x94", &cp) == 3);
  CHECK(cp == 0x2014);
  CHECK(decode("\xf0\x9f\x98\x80", &cp) == 4);
  CHECK(cp == 0x1f600);
  CHECK(decode("\xf4\x8f\xbf\xbf", &cp) == 4);
  CHECK(cp == 0x10ffff);
  CHECK(decode("\xc2\x85", &cp) == 2);  // a C1 control is valid UTF-8
  CHECK(cp == 0x85);
  CHECK(decode("a", &cp) == 0);  // ASCII is not a multi-byte sequence
}

TEST_CASE("utf8: overlong, surrogate, cut and out-of-range forms are refused", "[utf8]") {
  uint32_t cp = 0;
  CHECK(decode("\xc0\xaf", &cp) == 0);          // overlong '/'
  CHECK(decode("\xc1\xbf", &cp) == 0);          // overlong
  CHECK(decode("\xe0\x80\xaf", &cp) == 0);      // overlong, three bytes
  CHECK(decode("\xf0\x80\x80\xaf", &cp) == 0);  // overlong, four bytes
  CHECK(decode("\xed\xa0\x80", &cp) == 0);      // U+D800, a surrogate
  CHECK(decode("\xf4\x90\x80\x80", &cp) == 0);  // U+110000
  CHECK(decode("\xf5\x80\x80\x80", &cp) == 0);  // never a lead byte
  CHECK(decode("\xff", &cp) == 0);
  CHECK(decode("\x80", &cp) == 0);          // a continuation byte alone
  CHECK(decode("\xe2\x82", &cp) == 0);      // cut short
  CHECK(decode("\xe2\x28\xa1", &cp) == 0);  // not a continuation byte
}

TEST_CASE("utf8: whole strings", "[utf8]") {
  CHECK(valid(""));
  CHECK(valid("plain ascii"));
  CHECK(valid("caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80"));
  CHECK_FALSE(valid("caf\xc3"));
  CHECK_FALSE(valid("a\xffz"));
  CHECK_FALSE(valid("\xed\xbf\xbf"));
  // The length is the caller's: a valid prefix of an invalid buffer is valid.
  CHECK(utf8_valid("ab\xff", 2));
}
