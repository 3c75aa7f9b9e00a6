// Lowercase hex digits, the one form content ids, piece hashes, bitfields and
// tokens take on the wire. (Bytes to hex: manifest_hex.)
#pragma once

// Each byte's value as a lowercase hex digit, or -1.
struct HexDigitValues {
  signed char v[256];
  constexpr HexDigitValues() : v() {
    for (signed char& x : v)
      x = -1;
    for (int c = '0'; c <= '9'; c++)
      v[c] = static_cast<signed char>(c - '0');
    for (int c = 'a'; c <= 'f'; c++)
      v[c] = static_cast<signed char>(c - 'a' + 10);
  }
};
inline constexpr HexDigitValues kHexDigitValues;

// The value of a lowercase hex digit (0-15), or -1 for any other byte.
inline int hex_digit(char c) {
  return kHexDigitValues.v[static_cast<unsigned char>(c)];
}
