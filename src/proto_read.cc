// Reads a request datagram's JSON with RapidJSON's SAX reader straight into the
// table of members the request decoder knows (proto_read.h); proto.cc then
// validates them. One grammar, RapidJSON's: whatever it refuses is not JSON.
//
// RapidJSON scans strings 16 bytes at a time with SSE2 (baseline on x86-64)
// when RAPIDJSON_SSE2 is defined before its headers. Only this file reads
// NUL-terminated text, padded for those scans, so only here is it defined.
#if defined(__SSE2__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
#include "proto_read.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <cstring>

#include "limits.h"
#include "rapidjson/reader.h"

using rapidjson::SizeType;
using rapidjson::Value;

// In place: strings are read where they lie, not copied. Not validated as
// UTF-8: every string a request's handler uses is checked where it is decoded
// (names, peer ids, hex), and the rest is never used. Requests nest two or
// three deep, and RapidJSON reads them fastest by recursion; text nested deeper
// than kRecursionDepth is read again iteratively (nesting kept on the heap), so
// that no datagram can exhaust the C stack. Both are RapidJSON's one grammar.
static constexpr unsigned kReadFlags = rapidjson::kParseInsituFlag;
static constexpr unsigned kDeepReadFlags = kReadFlags | rapidjson::kParseIterativeFlag;
static constexpr unsigned kRecursionDepth = 32;

// Zero bytes after the text: its terminating NUL and the rest of the 16-byte
// block holding it, which RapidJSON's SSE2 scans read whole (from an aligned
// address, past the NUL).
static constexpr size_t kTextPad = 16;

// Whether the n bytes at s are the literal lit (n is the literal's length).
template <size_t N>
static bool is(const char* s, const char (&lit)[N]) {
  return memcmp(s, lit, N - 1) == 0;
}

// The ProtoMember a key names, or -1 for a key the decoder does not know.
static int member_index(const char* s, size_t n) {
  switch (n) {
    case 1:
      return s[0] == 'v' ? M_V : -1;
    case 2:
      return is(s, "id") ? M_ID : -1;
    case 3:
      return is(s, "seq") ? M_SEQ : -1;
    case 4:
      return is(s, "file") ? M_FILE : is(s, "size") ? M_SIZE : -1;
    case 5:
      return is(s, "files")   ? M_FILES
             : is(s, "token") ? M_TOKEN
             : is(s, "limit") ? M_LIMIT
             : is(s, "peers") ? M_PEERS
                              : -1;
    case 6:
      return is(s, "action")   ? M_ACTION
             : is(s, "cursor") ? M_CURSOR
             : is(s, "status") ? M_STATUS
                               : -1;
    case 7:
      return is(s, "peer_id") ? M_PEER_ID : is(s, "numwant") ? M_NUMWANT : -1;
    case 8:
      return is(s, "tcp_port") ? M_TCP_PORT : is(s, "complete") ? M_COMPLETE : -1;
    case 9:
      return is(s, "file_name") ? M_FILE_NAME : -1;
  }
  return -1;
}

// The ProtoFileMember a key of a join's file object names, or -1.
static int file_member_index(const char* s, size_t n) {
  if (n == 4) return is(s, "name") ? FM_NAME : is(s, "size") ? FM_SIZE : -1;
  return n == 2 && is(s, "id") ? FM_ID : -1;
}

// Slot k of v, marked seen; null when k is -1 or an earlier key took it (the
// first of duplicate keys wins).
static Value* first_of(int k, uint32_t* seen, Value* v) {
  if (k < 0 || ((*seen >> k) & 1)) return nullptr;
  *seen |= 1u << k;
  return &v[k];
}

// RapidJSON's reader calls this for every key and value, in the order of the
// text. Depth 1 is the request object's members; depth 2, the entries of its
// "files" list; depth 3, the members of an entry that is an object. Values
// anywhere else are dropped as they are read.
struct RequestHandler {
  ProtoMembers* m;
  unsigned max_depth;                // deeper nesting stops the read (kRecursionDepth)
  unsigned depth = 0;                // containers open around the next value
  bool root_object = false;          // the text is an object
  bool in_files = false;             // the container at depth 2 is the "files" list
  ProtoFileEntry* entry = nullptr;   // the object at depth 3 is this "files" entry
  rapidjson::Value* slot = nullptr;  // where the value of the last key read goes

  // A new "files" entry's value, or null past the entries kept.
  Value* next_file() {
    m->file_count++;
    if (m->files.size() >= kMaxJoinFiles) return nullptr;
    m->files.emplace_back();
    return &m->files.back().value;
  }

  // Where the next value goes; null: nowhere.
  Value* target() {
    if (depth == 1 || (depth == 3 && entry != nullptr)) return slot;
    if (depth == 2 && in_files) return next_file();
    return nullptr;
  }

  bool Key(const char* s, SizeType n, bool) {
    if (depth == 1)
      slot = first_of(member_index(s, n), &m->seen, m->v);
    else if (depth == 3 && entry != nullptr)
      slot = first_of(file_member_index(s, n), &entry->seen, entry->member);
    return true;
  }
  bool StartObject() {
    if (depth == 0) root_object = true;
    if (Value* t = target()) {
      t->SetObject();
      if (depth == 2) entry = &m->files.back();  // a "files" entry: its members are read
    }
    return ++depth <= max_depth;
  }
  bool EndObject(SizeType) {
    if (--depth == 2) entry = nullptr;
    return true;
  }
  bool StartArray() {
    if (Value* t = target()) {
      t->SetArray();
      if (depth == 1 && t == &m->v[M_FILES]) in_files = true;
    }
    return ++depth <= max_depth;
  }
  bool EndArray(SizeType) {
    if (--depth == 1) in_files = false;
    return true;
  }

  bool Null() {
    if (Value* t = target()) t->SetNull();
    return true;
  }
  bool Bool(bool b) {
    if (Value* t = target()) t->SetBool(b);
    return true;
  }
  bool Int(int i) {
    if (Value* t = target()) t->SetInt(i);
    return true;
  }
  bool Uint(unsigned u) {
    if (Value* t = target()) t->SetUint(u);
    return true;
  }
  bool Int64(int64_t i) {
    if (Value* t = target()) t->SetInt64(i);
    return true;
  }
  bool Uint64(uint64_t u) {
    if (Value* t = target()) t->SetUint64(u);
    return true;
  }
  bool Double(double d) {
    if (Value* t = target()) t->SetDouble(d);
    return true;
  }
  bool String(const char* s, SizeType n, bool) {
    if (Value* t = target()) t->SetString(rapidjson::StringRef(s, n));
    return true;
  }
  bool RawNumber(const char*, SizeType, bool) { return true; }  // not asked for (kReadFlags)
};

#ifdef __SSE2__
// Whether the 16 bytes at p hold a control byte other than tab, LF and CR.
static bool control_byte_in_16(const char* p) {
  const __m128i top = _mm_set1_epi8(0x1f), tab = _mm_set1_epi8('\t');
  const __m128i lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
  __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(c, top), c);  // c <= 0x1f
  __m128i space = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(c, tab), _mm_cmpeq_epi8(c, lf)),
                               _mm_cmpeq_epi8(c, cr));
  return _mm_movemask_epi8(_mm_andnot_si128(space, control)) != 0;
}
#endif

// Whether s[0, n) holds a control byte other than JSON's whitespace (tab, LF,
// CR): such a byte cannot be anywhere in JSON text, raw in a string or between
// tokens. RapidJSON refuses it too, except that its SSE2 string scan lets 0x1a
// to 0x1f through (it tests for bytes up to 0x19), and a NUL would end the
// in-place text early; so these are refused here first.
static bool has_control_byte(const char* s, size_t n) {
#ifdef __SSE2__
  if (n >= 16) {  // 16 bytes at a time, the last 16 overlapping the ones before
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
      if (control_byte_in_16(s + i)) return true;
    return i < n && control_byte_in_16(s + n - 16);
  }
#endif
  for (size_t i = 0; i < n; i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return true;
  }
  return false;
}

// Reads a fresh copy of data[0, len) into h's members. Returns RapidJSON's verdict.
template <unsigned flags>
static rapidjson::ParseResult read(const char* data, size_t len, RequestHandler* h) {
  ProtoMembers* m = h->m;
  if (m->text.size() < len + kTextPad) m->text.resize(len + kTextPad);
  memcpy(m->text.data(), data, len);
  memset(m->text.data() + len, 0, kTextPad);
  m->seen = 0;
  m->file_count = 0;
  m->files.clear();
  // Reused: its stack (for the iterative read) stays allocated between datagrams.
  static thread_local rapidjson::Reader reader;
  rapidjson::InsituStringStream in(m->text.data());
  return reader.Parse<flags>(in, *h);
}

int proto_read_request(const char* data, size_t len, ProtoMembers* m) {
  if (has_control_byte(data, len)) return PROTO_READ_NOT_JSON;
  RequestHandler h{m, kRecursionDepth};
  rapidjson::ParseResult r = read<kReadFlags>(data, len, &h);
  if (r.Code() == rapidjson::kParseErrorTermination) {  // nested too deep to recurse
    h = RequestHandler{m, UINT32_MAX};
    r = read<kDeepReadFlags>(data, len, &h);
  }
  if (r.IsError()) return PROTO_READ_NOT_JSON;
  return h.root_object ? 0 : PROTO_READ_NOT_OBJECT;
}
