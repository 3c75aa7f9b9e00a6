// The control plane's JSON writer. See json_out.h.
#include "json_out.h"

void json_str(JsonOut* o, const char* s, size_t n) {
  static const char kHex[] = "0123456789ABCDEF";
  char* p = o->p;
  *p++ = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') {
      *p++ = static_cast<char>(c);
      continue;
    }
    *p++ = '\\';
    switch (c) {
      case '"':
      case '\\':
        *p++ = static_cast<char>(c);
        break;
      case '\b':
        *p++ = 'b';
        break;
      case '\f':
        *p++ = 'f';
        break;
      case '\n':
        *p++ = 'n';
        break;
      case '\r':
        *p++ = 'r';
        break;
      case '\t':
        *p++ = 't';
        break;
      default:
        memcpy(p, "u00", 3);
        p[3] = kHex[c >> 4];
        p[4] = kHex[c & 15];
        p += 5;
    }
  }
  *p++ = '"';
  o->p = p;
}

// Two decimal digits per step: 00, 01, ... 99.
static const char kDigitPairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

void json_uint(JsonOut* o, uint64_t v) {
  char buf[24];
  char* p = buf + sizeof buf;
  while (v >= 100) {
    p -= 2;
    memcpy(p, kDigitPairs + 2 * (v % 100), 2);
    v /= 100;
  }
  if (v >= 10) {
    p -= 2;
    memcpy(p, kDigitPairs + 2 * v, 2);
  } else {
    *--p = static_cast<char>('0' + v);
  }
  json_raw(o, p, static_cast<size_t>(buf + sizeof buf - p));
}

void json_int(JsonOut* o, int64_t v) {
  if (v < 0) {
    *o->p++ = '-';
    json_uint(o, 0 - static_cast<uint64_t>(v));
    return;
  }
  json_uint(o, static_cast<uint64_t>(v));
}
