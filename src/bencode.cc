// Bencode writer and reader; see bencode.h.
#include "bencode.h"

#include <cinttypes>
#include <cstdio>

void bencode_int(std::string* out, int64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "i%" PRId64 "e", v);
  *out += buf;
}

void bencode_str(std::string* out, const void* data, size_t len) {
  char buf[32];
  snprintf(buf, sizeof buf, "%zu:", len);
  *out += buf;
  out->append(static_cast<const char*>(data), len);
}

void bencode_str(std::string* out, const std::string& s) {
  bencode_str(out, s.data(), s.size());
}

std::string bencode_failure(const std::string& why) {
  std::string out = "d";
  bencode_str(&out, "failure reason");
  bencode_str(&out, why);
  out += "e";
  return out;
}

const BValue* BValue::get(const std::string& k) const {
  if (type != BV_DICT) return nullptr;
  for (const auto& kv : dict)
    if (kv.first == k) return &kv.second;
  return nullptr;
}

/* ----------------------------------------------------------------------------
 * Reader
 * ------------------------------------------------------------------------- */

struct BReader {
  const char* p;
  size_t len;
  size_t pos = 0;
  std::string* err;
};

static bool bfail(BReader* r, const char* what) {
  char buf[96];
  snprintf(buf, sizeof buf, "%s at byte %zu", what, r->pos);
  *r->err = buf;
  return false;
}

// Decimal digits that fit an int64_t, without a leading zero.
static bool read_digits(BReader* r, uint64_t* out) {
  size_t start = r->pos;
  uint64_t n = 0;
  while (r->pos < r->len && r->p[r->pos] >= '0' && r->p[r->pos] <= '9') {
    uint64_t d = static_cast<uint64_t>(r->p[r->pos] - '0');
    if (n > (static_cast<uint64_t>(INT64_MAX) - d) / 10) return bfail(r, "integer too large");
    n = n * 10 + d;
    r->pos++;
  }
  size_t digits = r->pos - start;
  if (digits == 0) return bfail(r, "digits expected");
  if (digits > 1 && r->p[start] == '0') return bfail(r, "leading zero");
  *out = n;
  return true;
}

static bool read_number_end(BReader* r, char end) {
  if (r->pos >= r->len || r->p[r->pos] != end) return bfail(r, "bad integer end");
  r->pos++;
  return true;
}

// A string's length: digits, then ':'.
static bool read_length(BReader* r, int64_t* v) {
  uint64_t n = 0;
  if (!read_digits(r, &n) || !read_number_end(r, ':')) return false;
  *v = static_cast<int64_t>(n);
  return true;
}

// An integer's body after 'i': an optional '-', digits, then 'e'.
static bool read_int(BReader* r, int64_t* v) {
  bool neg = r->pos < r->len && r->p[r->pos] == '-';
  if (neg) r->pos++;
  uint64_t n = 0;
  if (!read_digits(r, &n)) return false;
  if (neg && n == 0) return bfail(r, "negative zero");
  if (!read_number_end(r, 'e')) return false;
  *v = neg ? -static_cast<int64_t>(n) : static_cast<int64_t>(n);
  return true;
}

static bool read_str(BReader* r, std::string* s) {
  int64_t n;
  if (!read_length(r, &n)) return false;
  if (static_cast<uint64_t>(n) > r->len - r->pos) return bfail(r, "string past the end");
  s->assign(r->p + r->pos, static_cast<size_t>(n));
  r->pos += static_cast<size_t>(n);
  return true;
}

static bool read_value(BReader* r, BValue* v, int depth) {
  if (depth > kBencodeMaxDepth) return bfail(r, "nested too deep");
  if (r->pos >= r->len) return bfail(r, "value expected");
  char c = r->p[r->pos];
  if (c == 'i') {
    r->pos++;
    v->type = BV_INT;
    return read_int(r, &v->i);
  }
  if (c >= '0' && c <= '9') {
    v->type = BV_STR;
    return read_str(r, &v->s);
  }
  if (c == 'l' || c == 'd') {
    r->pos++;
    v->type = c == 'l' ? BV_LIST : BV_DICT;
    while (r->pos < r->len && r->p[r->pos] != 'e') {
      if (c == 'l') {
        v->list.emplace_back();
        if (!read_value(r, &v->list.back(), depth + 1)) return false;
        continue;
      }
      std::string key;
      if (r->p[r->pos] < '0' || r->p[r->pos] > '9') return bfail(r, "dictionary key expected");
      if (!read_str(r, &key)) return false;
      if (!v->dict.empty() && !(v->dict.back().first < key))
        return bfail(r, "dictionary keys out of order");
      v->dict.emplace_back(key, BValue());
      if (!read_value(r, &v->dict.back().second, depth + 1)) return false;
    }
    if (r->pos >= r->len) return bfail(r, "unterminated list or dictionary");
    r->pos++;
    return true;
  }
  return bfail(r, "unexpected byte");
}

bool bdecode(const char* data, size_t len, BValue* out, std::string* err) {
  BReader r{data, len, 0, err};
  *out = BValue();
  if (!read_value(&r, out, 0)) return false;
  if (r.pos != len) return bfail(&r, "bytes after the value");
  return true;
}
