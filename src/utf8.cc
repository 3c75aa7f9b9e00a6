// UTF-8 decoding and validation. See utf8.h.
#include "utf8.h"

size_t utf8_decode(const unsigned char* p, size_t n, uint32_t* cp) {
  unsigned c = p[0];
  size_t len;
  uint32_t v;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    v = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    v = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    v = c & 0x07;
  } else {
    return 0;  // ASCII, a continuation byte, 0xc0-0xc1 (always overlong) or 0xf5-0xff
  }
  if (len > n) return 0;
  for (size_t k = 1; k < len; k++) {
    if ((p[k] & 0xc0) != 0x80) return 0;
    v = (v << 6) | (p[k] & 0x3f);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10ffff)) ||
      (v >= 0xd800 && v <= 0xdfff))
    return 0;
  *cp = v;
  return len;
}

bool utf8_valid(const char* s, size_t n) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s);
  size_t i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      i++;
      continue;
    }
    uint32_t cp;
    size_t len = utf8_decode(p + i, n - i, &cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}
