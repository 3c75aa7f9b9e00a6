// Writing JSON text: the one writer of the control plane's requests and
// answers (proto.cc). The caller sizes a string for the worst case first
// (json_str_bound, kJsonNumBound), writes through a plain pointer with no
// checks per byte, then cuts the string to what was written (json_end).
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

// Where the next byte goes.
struct JsonOut {
  char* p;
};

// The most bytes a string of n bytes takes once quoted and escaped (a control
// byte becomes 6: \u00XX).
constexpr size_t json_str_bound(size_t n) {
  return 2 + 6 * n;
}
// The most bytes a number takes: "-9223372036854775808" or UINT64_MAX.
constexpr size_t kJsonNumBound = 20;

// Sizes `out` to `bound` bytes and starts writing at its beginning.
inline JsonOut json_begin(std::string* out, size_t bound) {
  out->resize(bound);
  return JsonOut{&(*out)[0]};
}
// Cuts `out` to what was written through o, which must be within the bound
// it was sized to (the writes are unchecked, so this is the check).
inline void json_end(std::string* out, const JsonOut& o, size_t bound) {
  size_t n = static_cast<size_t>(o.p - out->data());
  assert(n <= bound && "a JSON writer wrote past its size bound");
  (void)bound;
  out->resize(n);
}

// Bytes already in JSON form (fixed text, pre-encoded parts), copied as they are.
inline void json_raw(JsonOut* o, const char* s, size_t n) {
  memcpy(o->p, s, n);
  o->p += n;
}
#define JSON_LIT(o, lit) json_raw(o, lit, sizeof(lit) - 1)
inline void json_char(JsonOut* o, char c) {
  *o->p++ = c;
}

// A string, quoted, with quote, backslash and control bytes escaped as JSON
// requires (the short forms \b \f \n \r \t where there is one, else \u00XX
// with uppercase hex digits, as RapidJSON's writer has them); every other byte
// (non-ASCII ones too) is kept as it is.
void json_str(JsonOut* o, const char* s, size_t n);
inline void json_str(JsonOut* o, const std::string& s) {
  json_str(o, s.data(), s.size());
}

// Integers in decimal.
void json_uint(JsonOut* o, uint64_t v);
void json_int(JsonOut* o, int64_t v);
inline void json_bool(JsonOut* o, bool v) {
  if (v)
    JSON_LIT(o, "true");
  else
    JSON_LIT(o, "false");
}
