// Bencode (BEP 3): a writer that appends integers, byte strings and the
// markers of lists and dictionaries to a std::string (the caller writes a
// dictionary's keys in sorted order), and a small bounded reader into a tree,
// used by the tests to check answers. No I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

// i<v>e
void bencode_int(std::string* out, int64_t v);
// <len>:<bytes>
void bencode_str(std::string* out, const void* data, size_t len);
void bencode_str(std::string* out, const std::string& s);
// A dictionary whose one key is "failure reason" (what trackers answer a bad request with).
std::string bencode_failure(const std::string& why);

enum BValueType { BV_INT, BV_STR, BV_LIST, BV_DICT };

struct BValue {
  BValueType type = BV_INT;
  int64_t i = 0;
  std::string s;
  std::vector<BValue> list;
  std::vector<std::pair<std::string, BValue>> dict;  // in the order read
  // The value of key k in a dictionary, or nullptr.
  const BValue* get(const std::string& k) const;
};

// The maximum nesting bdecode accepts.
constexpr int kBencodeMaxDepth = 32;

// Reads one value that must fill data[0, len) exactly. Returns false (with
// *err set) on malformed input: a bad integer (leading zeros, "-0", overflow),
// a string past the end, dictionary keys out of order or repeated, nesting
// deeper than kBencodeMaxDepth, or bytes after the value.
bool bdecode(const char* data, size_t len, BValue* out, std::string* err);
