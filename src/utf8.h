// UTF-8: the one decoder the project checks text with. proto.cc refuses names
// and ids that are not UTF-8 (PROTOCOL §4); out.cc escapes what is not before
// echoing user text. Pure functions, no state.
#pragma once

#include <cstddef>
#include <cstdint>

// The length (2 to 4) of the valid multi-byte UTF-8 sequence at p, at most n
// bytes long, with its code point in *cp; 0 when p does not start one (an
// ASCII byte, a byte that never leads, a cut, overlong or surrogate form, or a
// value past U+10FFFF). n must be at least 1.
size_t utf8_decode(const unsigned char* p, size_t n, uint32_t* cp);
// Whether s[0, n) is all valid UTF-8.
bool utf8_valid(const char* s, size_t n);
