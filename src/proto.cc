// Control-plane JSON <-> structs, and name checks. See proto.h.
#include "proto.h"

#include <arpa/inet.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <cassert>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "hex.h"
#include "json_out.h"
#include "limits.h"
#include "out.h"
#include "proto_read.h"
#include "rapidjson/document.h"

using rapidjson::Value;

// A tracker's answer (which a peer may print) is validated as UTF-8 whole, and
// parsed iteratively, which keeps deeply nested input off the C stack.
// (Requests are read by proto_read.cc.)
static constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

// A set of byte values, made at compile time from a predicate: testing a byte
// is one table lookup.
struct ByteClass {
  bool in[256];
};
template <typename Pred>
static constexpr ByteClass byte_class(Pred pred) {
  ByteClass b{};
  for (int c = 0; c < 256; c++)
    b.in[c] = pred(c);
  return b;
}

// Whether every byte of s[0, n) is in k.
static bool all_in(const ByteClass& k, const char* s, size_t n) {
  bool all = true;
  for (size_t i = 0; i < n; i++)
    all &= k.in[static_cast<unsigned char>(s[i])];
  return all;
}

// Printable ASCII (0x20-0x7e): valid UTF-8 with no control bytes as it is.
static constexpr ByteClass kPrintable = byte_class([](int c) { return c >= 0x20 && c < 0x7f; });
// ... other than '/' and '\\': what nearly every file name is made of.
static constexpr ByteClass kPlainNameBytes =
    byte_class([](int c) { return c >= 0x20 && c < 0x7f && c != '/' && c != '\\'; });

/* ----------------------------------------------------------------------------
 * Names
 * ------------------------------------------------------------------------- */

int proto_check_name(const char* s, size_t n, std::string* why) {
  if (n == 0) {
    *why = "file name is empty";
    return -1;
  }
  if (n > kMaxNameBytes) {
    *why = "file name is longer than 255 bytes";
    return -1;
  }
  // The common case in one pass: plain bytes only (so valid UTF-8, no control
  // or path bytes); only "." and ".." remain to refuse. Else the full checks.
  if (all_in(kPlainNameBytes, s, n) && !(n == 1 && s[0] == '.') &&
      !(n == 2 && s[0] == '.' && s[1] == '.'))
    return 0;
  if (!proto_utf8_valid(s, n)) {
    *why = "file name is not valid UTF-8";
    return -1;
  }
  if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) {
    *why = "file name may not be '.' or '..'";
    return -1;
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s);
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '/' || p[i] == '\\') {
      *why = "file name may not contain '/' or '\\' (a name, not a path)";
      return -1;
    }
    // C0 controls, DEL, and the C1 controls U+0080..U+009F (encoded C2 80..C2 9F).
    if (p[i] < 0x20 || p[i] == 0x7f || (p[i] == 0xc2 && i + 1 < n && p[i + 1] < 0xa0)) {
      *why = "file name may not contain control characters";
      return -1;
    }
  }
  return 0;
}

/* ----------------------------------------------------------------------------
 * Addresses
 * ------------------------------------------------------------------------- */

// Each byte value as decimal text, made at compile time: formatting an address
// is four table copies (a get_peers answer formats two per source).
struct OctetText {
  char text[256][4];
  unsigned char len[256];
};

static constexpr OctetText make_octet_text() {
  OctetText t{};
  for (int v = 0; v < 256; v++) {
    int n = 0;
    if (v >= 100) t.text[v][n++] = static_cast<char>('0' + v / 100);
    if (v >= 10) t.text[v][n++] = static_cast<char>('0' + v / 10 % 10);
    t.text[v][n++] = static_cast<char>('0' + v % 10);
    t.len[v] = static_cast<unsigned char>(n);
  }
  return t;
}

static constexpr OctetText kOctets = make_octet_text();

size_t proto_ip_format(uint32_t ip, char* buf) {
  const unsigned char* b = reinterpret_cast<const unsigned char*>(&ip);
  char* p = buf;
  for (int i = 0; i < 4; i++) {
    memcpy(p, kOctets.text[b[i]], 4);  // the 4th byte is overwritten or cut below
    p += kOctets.len[b[i]];
    *p++ = '.';
  }
  p[-1] = '\0';
  return static_cast<size_t>(p - 1 - buf);
}

/* ----------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------- */

static int fail(std::string* err, const std::string& msg) {
  *err = msg;
  return -1;
}

static int decode_name(const Value& v, const char* field, std::string* out, std::string* err) {
  if (!v.IsString()) return fail(err, std::string("field '") + field + "' must be a string");
  std::string why;
  if (proto_check_name(v.GetString(), v.GetStringLength(), &why) != 0)
    return fail(err, std::string("field '") + field + "': " + why);
  out->assign(v.GetString(), v.GetStringLength());
  return 0;
}

static int decode_peer_id(const Value& v, std::string* out, std::string* err) {
  static const char* kWhat = "field 'peer_id' must be a non-empty string or a non-negative integer";
  char buf[32];
  if (v.IsUint64()) {
    snprintf(buf, sizeof buf, "%" PRIu64, v.GetUint64());
    out->assign(buf);
    return 0;
  }
  if (!v.IsString()) return fail(err, kWhat);
  const char* s = v.GetString();
  size_t n = v.GetStringLength();
  if (n == 0) return fail(err, kWhat);
  if (n > kMaxPeerIdBytes) return fail(err, "field 'peer_id' is longer than 64 bytes");
  if (all_in(kPrintable, s, n)) {  // the common case, valid as it is
    out->assign(s, n);
    return 0;
  }
  if (!proto_utf8_valid(s, n)) return fail(err, "field 'peer_id' is not valid UTF-8");
  // C0 controls, DEL, and the C1 controls U+0080..U+009F (C2 80..C2 9F): an id
  // is printed on the console and in the log, where CSI (U+009B) or NEL (U+0085)
  // would clear the screen or forge a log line.
  for (size_t i = 0; i < n; i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f ||
        (c == 0xc2 && i + 1 < n && static_cast<unsigned char>(s[i + 1]) < 0xa0))
      return fail(err, "field 'peer_id' may not contain control characters");
  }
  out->assign(s, n);
  return 0;
}

const char* proto_field_name(uint32_t field) {
  switch (field) {
    case FLD_PEER_ID:
      return "peer_id";
    case FLD_FILES:
      return "files";
    case FLD_TCP_PORT:
      return "tcp_port";
    case FLD_FILE:
      return "file";
    case FLD_FILE_NAME:
      return "file_name";
    case FLD_SEQ:
      return "seq";
    case FLD_TOKEN:
      return "token";
    case FLD_NUMWANT:
      return "numwant";
    case FLD_SIZE:
      return "size";
    case FLD_ID:
      return "id";
    case FLD_COMPLETE:
      return "complete";
    case FLD_CURSOR:
      return "cursor";
    case FLD_LIMIT:
      return "limit";
  }
  return "?";
}

static bool is_hex(const Value& v, size_t len) {
  if (!v.IsString() || v.GetStringLength() != len) return false;
  const unsigned char* s = reinterpret_cast<const unsigned char*>(v.GetString());
  size_t i = 0;
#ifdef __SSE2__
  // 16 at a time: '0'-'9' or 'a'-'f' (signed compares; bytes from 0x80 are
  // negative, so outside both ranges).
  for (; len - i >= 16; i += 16) {
    __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(c, _mm_set1_epi8('0' - 1)),
                                  _mm_cmplt_epi8(c, _mm_set1_epi8('9' + 1)));
    __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(c, _mm_set1_epi8('a' - 1)),
                                   _mm_cmplt_epi8(c, _mm_set1_epi8('f' + 1)));
    if (_mm_movemask_epi8(_mm_or_si128(digit, letter)) != 0xffff) return false;
  }
#endif
  bool ok = true;
  for (; i < len; i++)
    ok &= hex_digit(static_cast<char>(s[i])) >= 0;
  return ok;
}

static int decode_size(const Value& v, const char* field, int64_t* out, std::string* err) {
  if (!v.IsInt64() || v.GetInt64() < 0)
    return fail(err, std::string("field '") + field + "' must be a non-negative integer");
  *out = v.GetInt64();
  return 0;
}

static int decode_id(const Value& v, const char* field, std::string* out, std::string* err) {
  if (!is_hex(v, kContentIdHexLen))
    return fail(err, std::string("field '") + field + "' must be 64 lowercase hex digits");
  out->assign(v.GetString(), v.GetStringLength());
  return 0;
}

// A join's file: a name, or (extension) {"name":..,"size":..,"id":..}.
static int decode_join_file(const ProtoFileEntry& f, std::string* name, std::string* err) {
  if (!f.value.IsObject()) return decode_name(f.value, "files", name, err);
  const Value* m = proto_file_member(f, FM_NAME);
  if (m == nullptr) return fail(err, "field 'files': an object needs a 'name'");
  if (decode_name(*m, "files", name, err) != 0) return -1;
  int64_t size;
  std::string id;
  if ((m = proto_file_member(f, FM_SIZE)) != nullptr &&
      decode_size(*m, "files.size", &size, err) != 0)
    return -1;
  if ((m = proto_file_member(f, FM_ID)) != nullptr && decode_id(*m, "files.id", &id, err) != 0)
    return -1;
  return 0;
}

// The extension fields; checked whenever present, used when "v" is 1.
static int decode_extensions(const ProtoMembers& mem, ProtoRequest* req, std::string* err) {
  const Value* m;
  if ((m = proto_member(mem, M_V)) != nullptr) {
    if (!m->IsInt() || m->GetInt() != 1)
      return fail(err, "unsupported protocol version (this tracker speaks \"v\":1)");
    req->extended = true;
  }
  if ((m = proto_member(mem, M_SEQ)) != nullptr) {
    if (!m->IsUint64()) return fail(err, "field 'seq' must be a non-negative integer");
    req->seq = m->GetUint64();
    req->fields |= FLD_SEQ;
  }
  if ((m = proto_member(mem, M_TOKEN)) != nullptr) {
    if (!is_hex(*m, kTokenHexLen))
      return fail(err, "field 'token' must be the 32 hex digits the join answer gave");
    req->token.assign(m->GetString(), m->GetStringLength());
    req->fields |= FLD_TOKEN;
  }
  if ((m = proto_member(mem, M_NUMWANT)) != nullptr) {
    if (!m->IsInt() || m->GetInt() < 1)
      return fail(err, "field 'numwant' must be a positive integer");
    req->numwant = m->GetInt();
    req->fields |= FLD_NUMWANT;
  }
  if ((m = proto_member(mem, M_SIZE)) != nullptr) {
    if (decode_size(*m, "size", &req->size, err) != 0) return -1;
    req->fields |= FLD_SIZE;
  }
  if ((m = proto_member(mem, M_ID)) != nullptr) {
    // get_peers may name a content by a prefix of its id (`get ID`); everywhere
    // else the id is announced, whole.
    size_t n = m->IsString() ? m->GetStringLength() : 0;
    bool prefix = req->action == "get_peers" && n >= kMinIdPrefix && n <= kContentIdHexLen;
    if (prefix ? !is_hex(*m, n) : decode_id(*m, "id", &req->id, err) != 0) {
      if (prefix)
        return fail(err,
                    "field 'id' must be 8 to 64 lowercase hex digits (a content id or its "
                    "prefix)");
      return -1;
    }
    if (prefix) req->id.assign(m->GetString(), n);
    req->fields |= FLD_ID;
  }
  if ((m = proto_member(mem, M_COMPLETE)) != nullptr) {
    if (!m->IsBool()) return fail(err, "field 'complete' must be true or false");
    req->complete = m->GetBool();
    req->fields |= FLD_COMPLETE;
  }
  return 0;
}

// Clears a request for reuse: its strings and lists keep their buffers, so a
// tracker that decodes every datagram into one ProtoRequest allocates nothing.
static void request_reset(ProtoRequest* req) {
  req->action.clear();
  req->extended = false;
  req->fields = 0;
  req->peer_id.clear();
  req->files.clear();
  req->tcp_port = 0;
  req->file.clear();
  req->file_name.clear();
  req->seq = 0;
  req->token.clear();
  req->numwant = 0;
  req->size = -1;
  req->id.clear();
  req->complete = true;
  req->cursor = 0;
  req->limit = 0;
}

// The request's fields, from the members read: each checked in a fixed order
// (so one datagram always gets the same error), the extensions last.
static int decode_members(const ProtoMembers& mem, ProtoRequest* req, std::string* err) {
  const Value* m = proto_member(mem, M_ACTION);
  if (m == nullptr &&
      (proto_member(mem, M_STATUS) != nullptr || proto_member(mem, M_PEERS) != nullptr))
    return PROTO_ANSWER;
  if (m == nullptr) return fail(err, "missing field 'action'");
  if (!m->IsString()) return fail(err, "field 'action' must be a string");
  req->action.assign(m->GetString(), m->GetStringLength());

  if ((m = proto_member(mem, M_PEER_ID)) != nullptr) {
    if (decode_peer_id(*m, &req->peer_id, err) != 0) return -1;
    req->fields |= FLD_PEER_ID;
  }
  if ((m = proto_member(mem, M_TCP_PORT)) != nullptr) {
    if (!m->IsInt() || m->GetInt() < 1 || m->GetInt() > 65535)
      return fail(err, "field 'tcp_port' must be an integer from 1 to 65535");
    req->tcp_port = m->GetInt();
    req->fields |= FLD_TCP_PORT;
  }
  if ((m = proto_member(mem, M_FILES)) != nullptr) {
    if (!m->IsArray()) return fail(err, "field 'files' must be a list of file names");
    if (mem.file_count > kMaxJoinFiles) return fail(err, "field 'files' lists too many files");
    for (const ProtoFileEntry& f : mem.files) {
      std::string name;
      if (decode_join_file(f, &name, err) != 0) return -1;
      req->files.push_back(std::move(name));
    }
    req->fields |= FLD_FILES;
  }
  if ((m = proto_member(mem, M_FILE)) != nullptr) {
    if (decode_name(*m, "file", &req->file, err) != 0) return -1;
    req->fields |= FLD_FILE;
  }
  if ((m = proto_member(mem, M_FILE_NAME)) != nullptr) {
    if (decode_name(*m, "file_name", &req->file_name, err) != 0) return -1;
    req->fields |= FLD_FILE_NAME;
  }
  if ((m = proto_member(mem, M_CURSOR)) != nullptr) {
    if (!m->IsUint64())
      return fail(err,
                  "field 'cursor' must be a non-negative integer (the 'next' of the last answer)");
    req->cursor = m->GetUint64();
    req->fields |= FLD_CURSOR;
  }
  if ((m = proto_member(mem, M_LIMIT)) != nullptr) {
    if (!m->IsInt() || m->GetInt() < 1)
      return fail(err, "field 'limit' must be a positive integer");
    req->limit = m->GetInt();
    req->fields |= FLD_LIMIT;
  }
  return decode_extensions(mem, req, err);
}

int proto_decode_request(const char* data, size_t len, ProtoRequest* req, std::string* err) {
  request_reset(req);
  // Reused: the members' strings point into its copy of the datagram.
  static thread_local ProtoMembers mem;
  int r = proto_read_request(data, len, &mem);
  if (r == PROTO_READ_NOT_JSON)
    return fail(err, "invalid JSON (expected one JSON object per datagram)");
  if (r == PROTO_READ_NOT_OBJECT) return fail(err, "invalid request: expected a JSON object");
  return decode_members(mem, req, err);
}

/* ----------------------------------------------------------------------------
 * Requests out
 * ------------------------------------------------------------------------- */

// Every request field but the strings fits in this: the keys, punctuation and
// the numbers at their longest.
static constexpr size_t kRequestFixedBound = 256 + 6 * kJsonNumBound;

static size_t request_bound(const ProtoRequest& req) {
  size_t n = kRequestFixedBound;
  for (const std::string* s :
       {&req.action, &req.peer_id, &req.file, &req.file_name, &req.token, &req.id})
    n += json_str_bound(s->size());
  for (const std::string& f : req.files)
    n += 1 + json_str_bound(f.size());
  return n;
}

// Starts the member `key` (a literal with its comma and colon) when the
// request carries `field`; its value follows.
template <size_t N>
static bool member(JsonOut* o, const ProtoRequest& req, uint32_t field, const char (&key)[N]) {
  if (!(req.fields & field)) return false;
  json_raw(o, key, N - 1);
  return true;
}

// The seed's fields, in the seed's order.
static void put_seed_fields(JsonOut* o, const ProtoRequest& req) {
  JSON_LIT(o, "{\"action\":");
  json_str(o, req.action);
  if (member(o, req, FLD_PEER_ID, ",\"peer_id\":"))
    json_str(o, req.peer_id);  // as a string, as the seed sends it
  if (req.fields & FLD_FILES) {
    JSON_LIT(o, ",\"files\":[");
    for (size_t i = 0; i < req.files.size(); i++) {
      if (i > 0) json_char(o, ',');
      json_str(o, req.files[i]);
    }
    json_char(o, ']');
  }
  if (member(o, req, FLD_TCP_PORT, ",\"tcp_port\":")) json_int(o, req.tcp_port);
  if (member(o, req, FLD_FILE, ",\"file\":")) json_str(o, req.file);
  if (member(o, req, FLD_FILE_NAME, ",\"file_name\":")) json_str(o, req.file_name);
}

// "list"'s fields and the extensions ("v":1 first).
static void put_extension_fields(JsonOut* o, const ProtoRequest& req) {
  if (member(o, req, FLD_CURSOR, ",\"cursor\":")) json_uint(o, req.cursor);
  if (member(o, req, FLD_LIMIT, ",\"limit\":")) json_int(o, req.limit);
  if (!req.extended) return;
  JSON_LIT(o, ",\"v\":1");
  if (member(o, req, FLD_SEQ, ",\"seq\":")) json_uint(o, req.seq);
  if (member(o, req, FLD_TOKEN, ",\"token\":")) json_str(o, req.token);
  if (member(o, req, FLD_NUMWANT, ",\"numwant\":")) json_int(o, req.numwant);
  if (member(o, req, FLD_SIZE, ",\"size\":")) json_int(o, req.size);
  if (member(o, req, FLD_ID, ",\"id\":")) json_str(o, req.id);
  if (member(o, req, FLD_COMPLETE, ",\"complete\":")) json_bool(o, req.complete);
}

void proto_encode_request(const ProtoRequest& req, std::string* out) {
  size_t bound = request_bound(req);
  JsonOut o = json_begin(out, bound);
  put_seed_fields(&o, req);
  put_extension_fields(&o, req);
  json_char(&o, '}');
  json_end(out, o, bound);
}

/* ----------------------------------------------------------------------------
 * Sources
 * ------------------------------------------------------------------------- */

// A source's blob is its two JSON forms, made once when the peer joins so that
// listing it in an answer is copying: two bytes, the length n of its "sources"
// entry (little-endian); that entry, up to the value of "complete"; then its
// "peers" entry (the rest). E.g., after the two bytes,
// {"peer_id":"p7","ip":"10.0.0.1","port":6881,"complete":["10.0.0.1",6881]
static constexpr size_t kBlobHead = 2;
// The most bytes a blob takes besides its peer id: the head, the keys and
// punctuation, and the address and port twice.
static constexpr size_t kBlobFixedBound = kBlobHead + 64 + 2 * 32;
// A peer id the decoder accepts makes a blob whose lengths fit the head and
// ProtoSourceRef::len.
static_assert(kBlobFixedBound + json_str_bound(kMaxPeerIdBytes) <= UINT16_MAX,
              "a blob's length fits in 16 bits");

void proto_source_blob(const std::string& peer_id, uint32_t ip, int port, std::string* out) {
  assert(peer_id.size() <= kMaxPeerIdBytes && "a peer id the decoder accepts");
  char ip_port[32];  // "a.b.c.d",port
  JsonOut a{ip_port};
  json_char(&a, '"');
  a.p += proto_ip_format(ip, a.p);
  json_char(&a, '"');
  size_t ip_len = static_cast<size_t>(a.p - ip_port);
  json_char(&a, ',');
  json_int(&a, port);
  size_t ip_port_len = static_cast<size_t>(a.p - ip_port);
  size_t bound = kBlobFixedBound + json_str_bound(peer_id.size());
  JsonOut o = json_begin(out, bound);
  o.p += kBlobHead;
  JSON_LIT(&o, "{\"peer_id\":");
  json_str(&o, peer_id);
  JSON_LIT(&o, ",\"ip\":");
  json_raw(&o, ip_port, ip_len);
  JSON_LIT(&o, ",\"port\":");
  json_raw(&o, ip_port + ip_len + 1, ip_port_len - ip_len - 1);
  JSON_LIT(&o, ",\"complete\":");
  size_t n = static_cast<size_t>(o.p - out->data()) - kBlobHead;
  (*out)[0] = static_cast<char>(n & 0xff);
  (*out)[1] = static_cast<char>(n >> 8);
  json_char(&o, '[');
  json_raw(&o, ip_port, ip_port_len);
  json_char(&o, ']');
  json_end(out, o, bound);
}

// Bytes of a source's "sources" entry (up to the value of "complete").
static size_t source_entry_len(const ProtoSourceRef& s) {
  const unsigned char* b = reinterpret_cast<const unsigned char*>(s.blob);
  return b[0] | static_cast<size_t>(b[1]) << 8;
}

// Bytes of a source's "peers" entry, ["ip",port].
static size_t peer_entry_len(const ProtoSourceRef& s) {
  return s.len - kBlobHead - source_entry_len(s);
}

// A source's "peers" entry.
static void put_peer(JsonOut* o, const ProtoSourceRef& s) {
  json_raw(o, s.blob + kBlobHead + source_entry_len(s), peer_entry_len(s));
}

// A source's "sources" entry, whole.
static void put_source(JsonOut* o, const ProtoSourceRef& s) {
  json_raw(o, s.blob + kBlobHead, source_entry_len(s));
  if (s.complete)
    JSON_LIT(o, "true}");
  else
    JSON_LIT(o, "false}");
}

/* ----------------------------------------------------------------------------
 * Answers
 * ------------------------------------------------------------------------- */

// Answers are written into the caller's reused string (json_out.h): the
// tracker sends one per request.

void proto_encode_ok(std::string* out) {
  out->assign("{\"status\":\"ok\"}");
}

void proto_encode_peers(const std::vector<ProtoSourceRef>& sources, size_t max_bytes,
                        std::string* out) {
  static const char kTail[] = "]}";
  size_t bound = 16;
  for (const ProtoSourceRef& s : sources)
    bound += 1 + peer_entry_len(s);
  JsonOut o = json_begin(out, bound);
  JSON_LIT(&o, "{\"peers\":[");
  bool first = true;
  for (const ProtoSourceRef& s : sources) {
    if (!s.complete) continue;
    size_t entry = (first ? 0 : 1) + peer_entry_len(s);  // [ip,port] and a comma
    if (static_cast<size_t>(o.p - out->data()) + entry + sizeof kTail - 1 > max_bytes) break;
    if (!first) json_char(&o, ',');
    first = false;
    put_peer(&o, s);
  }
  JSON_LIT(&o, kTail);
  json_end(out, o, bound);
}

void proto_encode_error(const std::string& message, std::string* out) {
  // The message may quote user input; it is already sanitised, and json_str escapes it.
  size_t bound = 32 + json_str_bound(message.size());
  JsonOut o = json_begin(out, bound);
  JSON_LIT(&o, "{\"status\":\"error\",\"message\":");
  json_str(&o, message);
  json_char(&o, '}');
  json_end(out, o, bound);
}

// The most bytes encode_extended writes for a reply listing k sources and kc contents.
static size_t extended_bound(const ProtoReply& reply, size_t k, size_t kc) {
  size_t bound = 256 + json_str_bound(reply.message.size()) + json_str_bound(reply.token.size()) +
                 json_str_bound(reply.cid.size()) + json_str_bound(reply.name.size());
  for (size_t i = 0; i < kc; i++)  // the keys, three numbers and the id, escaped
    bound += 128 + json_str_bound(reply.contents[i].cid.size());
  if (reply.kind == ProtoReply::PEERS) {
    for (size_t i = 0; i < k; i++)
      bound += 8 + reply.sources[i].len;  // two commas, "false}"
  }
  return bound;
}

// An extended answer's members before its lists: status, v, seq, and those of
// the reply's fields that are set.
static void put_extended_head(JsonOut* o, const ProtoReply& reply, const ProtoRequest& req) {
  if (reply.kind == ProtoReply::ERROR)
    JSON_LIT(o, "{\"status\":\"error\",\"v\":1");
  else
    JSON_LIT(o, "{\"status\":\"ok\",\"v\":1");
  if (req.fields & FLD_SEQ) {
    JSON_LIT(o, ",\"seq\":");
    json_uint(o, req.seq);
  }
  if (reply.kind == ProtoReply::ERROR) {
    JSON_LIT(o, ",\"message\":");
    json_str(o, reply.message);
  }
  if (reply.interval > 0) {
    JSON_LIT(o, ",\"interval\":");
    json_int(o, reply.interval);
  }
  if (!reply.token.empty()) {
    JSON_LIT(o, ",\"token\":");
    json_str(o, reply.token);
  }
  if (reply.kind == ProtoReply::PEERS && !reply.cid.empty()) {
    JSON_LIT(o, ",\"size\":");
    json_int(o, reply.size);
    JSON_LIT(o, ",\"id\":");
    json_str(o, reply.cid);
  }
  if (!reply.name.empty()) {
    JSON_LIT(o, ",\"name\":");
    json_str(o, reply.name);
  }
  if (reply.others >= 0) {
    JSON_LIT(o, ",\"others\":");
    json_int(o, reply.others);
  }
}

// "contents" (its first kc entries) and "contents_total".
static void put_contents(JsonOut* o, const ProtoReply& reply, size_t kc) {
  JSON_LIT(o, ",\"contents\":[");
  for (size_t i = 0; i < kc; i++) {
    const ProtoContent& c = reply.contents[i];
    if (i > 0) json_char(o, ',');
    JSON_LIT(o, "{\"id\":");
    json_str(o, c.cid);
    JSON_LIT(o, ",\"size\":");
    json_int(o, c.size);
    JSON_LIT(o, ",\"holders\":");
    json_int(o, c.holders);
    JSON_LIT(o, ",\"first_seen\":");
    json_int(o, c.first_seen);
    json_char(o, '}');
  }
  JSON_LIT(o, "],\"contents_total\":");
  json_int(o, reply.contents_total);
}

// "peers" (the seed's shape: complete sources only) and "sources", of the first k sources.
static void put_source_lists(JsonOut* o, const ProtoReply& reply, size_t k) {
  JSON_LIT(o, ",\"peers\":[");
  bool first = true;
  for (size_t i = 0; i < k; i++) {
    const ProtoSourceRef& s = reply.sources[i];
    if (!s.complete) continue;
    if (!first) json_char(o, ',');
    first = false;
    put_peer(o, s);
  }
  JSON_LIT(o, "],\"sources\":[");
  for (size_t i = 0; i < k; i++) {
    if (i > 0) json_char(o, ',');
    put_source(o, reply.sources[i]);
  }
  json_char(o, ']');
}

// The extended form of a reply listing the first k sources and kc contents.
static void encode_extended(const ProtoReply& reply, const ProtoRequest& req, size_t k, size_t kc,
                            std::string* out) {
  size_t bound = extended_bound(reply, k, kc);
  JsonOut o = json_begin(out, bound);
  put_extended_head(&o, reply, req);
  if (reply.contents_total > 0) put_contents(&o, reply, kc);
  if (reply.kind == ProtoReply::PEERS) put_source_lists(&o, reply, k);
  json_char(&o, '}');
  json_end(out, o, bound);
}

// A list answer: the head (status, version, seq), then rows, then the tail.
static void list_head(const ProtoRequest& req, JsonOut* o) {
  JSON_LIT(o, "{\"status\":\"ok\"");
  if (req.extended) JSON_LIT(o, ",\"v\":1");
  if (req.extended && (req.fields & FLD_SEQ)) {
    JSON_LIT(o, ",\"seq\":");
    json_uint(o, req.seq);
  }
  JSON_LIT(o, ",\"files\":[");
}

static size_t list_row_bound(const ProtoListRow& r) {
  return 128 + 6 * (r.name.size() + r.cid.size());
}

static void list_row(const ProtoListRow& r, JsonOut* o) {
  JSON_LIT(o, "{\"name\":");
  json_str(o, r.name);
  JSON_LIT(o, ",\"size\":");
  json_int(o, r.size);
  JSON_LIT(o, ",\"id\":");
  json_str(o, r.cid);
  JSON_LIT(o, ",\"holders\":");
  json_int(o, r.holders);
  JSON_LIT(o, ",\"complete\":");
  json_int(o, r.complete);
  json_char(o, '}');
}

static void list_tail(uint64_t next, int64_t total, JsonOut* o) {
  JSON_LIT(o, "],\"next\":");
  json_uint(o, next);
  JSON_LIT(o, ",\"total\":");
  json_int(o, total);
  json_char(o, '}');
}

// The answer with the first k rows.
static void encode_list(const ProtoReply& reply, const ProtoRequest& req, size_t k,
                        std::string* out) {
  size_t bound = 128;
  for (size_t i = 0; i < k; i++)
    bound += 1 + list_row_bound(reply.rows[i]);
  JsonOut o = json_begin(out, bound);
  list_head(req, &o);
  for (size_t i = 0; i < k; i++) {
    if (i > 0) json_char(&o, ',');
    list_row(reply.rows[i], &o);
  }
  list_tail(reply.next, reply.total, &o);
  json_end(out, o, bound);
}

size_t proto_list_fit(const ProtoReply& reply, const ProtoRequest& req, size_t max_bytes) {
  char buf[160];  // the head and the tail: numbers and fixed text
  JsonOut o{buf};
  list_head(req, &o);
  // Counted with the longest "next": the cursor after the rows that fit is
  // known only once they are chosen, and must not push the last one out.
  list_tail(UINT64_MAX, reply.total, &o);
  size_t used = static_cast<size_t>(o.p - buf);
  std::string row;
  size_t k = 0;
  for (; k < reply.rows.size(); k++) {
    JsonOut r = json_begin(&row, list_row_bound(reply.rows[k]));
    list_row(reply.rows[k], &r);
    size_t n = static_cast<size_t>(r.p - row.data()) + (k > 0 ? 1 : 0);
    if (used + n > max_bytes) break;
    used += n;
  }
  return k;
}

void proto_encode_reply(const ProtoReply& reply, const ProtoRequest& req, size_t max_bytes,
                        std::string* out) {
  if (reply.kind == ProtoReply::LIST) {  // the same form with or without "v":1
    encode_list(reply, req, proto_list_fit(reply, req, max_bytes), out);
    return;
  }
  if (!req.extended) {
    if (reply.kind == ProtoReply::OK) {
      proto_encode_ok(out);
    } else if (reply.kind == ProtoReply::ERROR) {
      proto_encode_error(reply.message, out);
    } else {
      proto_encode_peers(reply.sources, max_bytes, out);
    }
    return;
  }
  size_t k = reply.sources.size(), kc = reply.contents.size();
  encode_extended(reply, req, k, kc, out);
  // Too long: drop sources in proportion to the excess until it fits, then
  // listed contents (contents_total still says how many there are).
  while (out->size() > max_bytes && k > 0) {
    size_t fit = k * max_bytes / out->size();
    k = fit < k ? fit : k - 1;
    encode_extended(reply, req, k, kc, out);
  }
  while (out->size() > max_bytes && kc > 0)
    encode_extended(reply, req, k, --kc, out);
}

/* ----------------------------------------------------------------------------
 * Answers, as a peer reads them: what is well formed is kept, the rest skipped
 * (a hostile tracker can send anything).
 * ------------------------------------------------------------------------- */

// The member `name` of the object o, or null.
static const Value* member(const Value& o, const char* name) {
  Value::ConstMemberIterator m = o.FindMember(name);
  return m == o.MemberEnd() ? nullptr : &m->value;
}

// *out = v when v is present and a 64-bit integer (and, for the second, >= 0).
static void take_int64(const Value* v, int64_t* out) {
  if (v != nullptr && v->IsInt64()) *out = v->GetInt64();
}
static void take_count(const Value* v, int64_t* out) {
  if (v != nullptr && v->IsInt64() && v->GetInt64() >= 0) *out = v->GetInt64();
}

// *out = v when v is present and `len` lowercase hex digits.
static void take_hex(const Value* v, size_t len, std::string* out) {
  if (v != nullptr && is_hex(*v, len)) out->assign(v->GetString(), v->GetStringLength());
}

// A peer's address as a tracker lists it: a dotted quad (only a real IPv4
// address reaches the console and the log) and a port from 1 to 65535.
static bool peer_addr(const Value& ip, const Value& port, ProtoAddr* out) {
  if (!ip.IsString() || !port.IsInt()) return false;
  int pn = port.GetInt();
  struct in_addr a;
  if (pn < 1 || pn > 65535 || ip.GetStringLength() > 15 ||
      inet_pton(AF_INET, ip.GetString(), &a) != 1)
    return false;
  *out = ProtoAddr{ip.GetString(), pn};
  return true;
}

static int answer_status(const Value& d, ProtoAnswer* ans, std::string* err) {
  const Value* status = member(d, "status");
  if (status == nullptr) return 0;
  if (!status->IsString()) return fail(err, "tracker sent a malformed status");
  ans->has_status = true;
  ans->ok = strcmp(status->GetString(), "ok") == 0;
  const Value* msg = member(d, "message");
  if (msg != nullptr && msg->IsString())
    ans->message = out_sanitize(std::string(msg->GetString(), msg->GetStringLength()), 200);
  else if (!ans->ok)
    ans->message = "tracker refused the request";
  return 0;
}

// The extension fields of an answer (seq, interval, token, size, id, name, others).
static void answer_fields(const Value& d, ProtoAnswer* ans) {
  const Value* v;
  if ((v = member(d, "seq")) != nullptr && v->IsUint64()) {
    ans->has_seq = true;
    ans->seq = v->GetUint64();
  }
  if ((v = member(d, "interval")) != nullptr && v->IsInt() && v->GetInt() > 0)
    ans->interval = v->GetInt();
  take_hex(member(d, "token"), kTokenHexLen, &ans->token);
  take_count(member(d, "size"), &ans->size);
  take_hex(member(d, "id"), kContentIdHexLen, &ans->cid);
  if ((v = member(d, "name")) != nullptr && v->IsString()) {
    std::string name(v->GetString(), v->GetStringLength());
    std::string why;
    if (proto_check_name(name, &why) == 0) ans->name = name;  // a name, never a path
  }
  take_count(member(d, "others"), &ans->others);
}

// "contents": the contents a name could mean, at most kMaxContentsListed.
static void answer_contents(const Value& d, ProtoAnswer* ans) {
  const Value* list = member(d, "contents");
  if (list == nullptr || !list->IsArray()) return;
  for (const Value& c : list->GetArray()) {
    if (!c.IsObject() || ans->contents.size() >= kMaxContentsListed) continue;
    ProtoContent pc;
    take_hex(member(c, "id"), kContentIdHexLen, &pc.cid);
    if (pc.cid.empty()) continue;
    take_int64(member(c, "size"), &pc.size);
    take_int64(member(c, "holders"), &pc.holders);
    take_int64(member(c, "first_seen"), &pc.first_seen);
    ans->contents.push_back(pc);
  }
  ans->contents_total = static_cast<int64_t>(ans->contents.size());
  const Value* t = member(d, "contents_total");
  if (t != nullptr && t->IsInt64() && t->GetInt64() > ans->contents_total)
    ans->contents_total = t->GetInt64();
}

// "sources": complete and partial sources, each {"peer_id","ip","port","complete"}.
static void answer_sources(const Value& d, ProtoAnswer* ans) {
  const Value* list = member(d, "sources");
  if (list == nullptr || !list->IsArray()) return;
  for (const Value& s : list->GetArray()) {
    if (!s.IsObject()) continue;
    const Value *ip = member(s, "ip"), *port = member(s, "port");
    ProtoSource src;
    if (ip == nullptr || port == nullptr || !peer_addr(*ip, *port, &src.addr)) continue;
    const Value *pid = member(s, "peer_id"), *comp = member(s, "complete");
    if (pid != nullptr && pid->IsString())
      src.peer_id = out_sanitize(std::string(pid->GetString(), pid->GetStringLength()), 64);
    src.complete = comp == nullptr || !comp->IsBool() || comp->GetBool();
    ans->sources.push_back(src);
  }
}

// One row of a list answer; false for a row without a valid name.
static bool answer_row(const Value& f, ProtoListRow* row) {
  const Value* name = member(f, "name");
  if (name == nullptr || !name->IsString()) return false;
  row->name.assign(name->GetString(), name->GetStringLength());
  std::string why;
  if (proto_check_name(row->name, &why) != 0) return false;  // a name, never a path or controls
  take_hex(member(f, "id"), kContentIdHexLen, &row->cid);
  take_count(member(f, "size"), &row->size);
  take_count(member(f, "holders"), &row->holders);
  take_count(member(f, "complete"), &row->complete);
  return true;
}

// "files", "next" and "total": a page of a list answer.
static int answer_files(const Value& d, ProtoAnswer* ans, std::string* err) {
  const Value* list = member(d, "files");
  if (list == nullptr) return 0;
  if (!list->IsArray()) return fail(err, "tracker sent a malformed file list");
  ans->has_files = true;
  for (const Value& f : list->GetArray()) {
    if (!f.IsObject() || ans->files.size() >= static_cast<size_t>(kMaxListRows)) continue;
    ProtoListRow row;
    if (answer_row(f, &row)) ans->files.push_back(std::move(row));
  }
  const Value* next = member(d, "next");
  if (next != nullptr && next->IsUint64()) ans->next = next->GetUint64();
  take_count(member(d, "total"), &ans->total);
  return 0;
}

// "peers": the seed's list of ["ip", port]; anything else is skipped rather than trusted.
static int answer_peers(const Value& d, ProtoAnswer* ans, std::string* err) {
  const Value* list = member(d, "peers");
  if (list == nullptr) return 0;
  if (!list->IsArray()) return fail(err, "tracker sent a malformed peer list");
  for (const Value& p : list->GetArray()) {
    ProtoAddr a;
    if (p.IsArray() && p.Size() == 2 && peer_addr(p[0], p[1], &a)) ans->peers.push_back(a);
  }
  ans->has_peers = true;
  return 0;
}

int proto_decode_answer(const char* data, size_t len, ProtoAnswer* ans, std::string* err) {
  *ans = ProtoAnswer();
  rapidjson::Document d;
  d.Parse<kParseFlags>(data, len);
  if (d.HasParseError() || !d.IsObject())
    return fail(err, "tracker sent an answer that is not a JSON object");
  if (answer_status(d, ans, err) != 0) return -1;
  answer_fields(d, ans);
  answer_contents(d, ans);
  answer_sources(d, ans);
  if (answer_files(d, ans, err) != 0 || answer_peers(d, ans, err) != 0) return -1;
  if (!ans->has_status && !ans->has_peers)
    return fail(err, "tracker sent an answer without status or peers");
  return 0;
}
