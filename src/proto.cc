// Control-plane JSON <-> structs, and name checks. See proto.h.
#include "proto.h"

#include <arpa/inet.h>

#include <cinttypes>
#include <cstdio>

#include "limits.h"
#include "log.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

using rapidjson::Value;

// Iterative parsing keeps deeply nested input off the C stack; encoding is
// validated so a bad byte is refused here rather than echoed later.
static constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

/* ----------------------------------------------------------------------------
 * Names
 * ------------------------------------------------------------------------- */

bool proto_utf8_valid(const char* s, size_t n) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s);
  size_t i = 0;
  while (i < n) {
    unsigned c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

int proto_check_name(const char* s, size_t n, std::string* why) {
  if (n == 0) {
    *why = "file name is empty";
    return -1;
  }
  if (n > kMaxNameBytes) {
    *why = "file name is longer than 255 bytes";
    return -1;
  }
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
  for (size_t i = 0; i < n; i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f)
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
  }
  return "?";
}

static bool is_hex(const Value& v, size_t len) {
  if (!v.IsString() || v.GetStringLength() != len) return false;
  for (size_t i = 0; i < len; i++) {
    char c = v.GetString()[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
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
static int decode_join_file(const Value& f, std::string* name, std::string* err) {
  if (!f.IsObject()) return decode_name(f, "files", name, err);
  Value::ConstMemberIterator m = f.FindMember("name");
  if (m == f.MemberEnd()) return fail(err, "field 'files': an object needs a 'name'");
  if (decode_name(m->value, "files", name, err) != 0) return -1;
  int64_t size;
  std::string id;
  if ((m = f.FindMember("size")) != f.MemberEnd() &&
      decode_size(m->value, "files.size", &size, err) != 0)
    return -1;
  if ((m = f.FindMember("id")) != f.MemberEnd() && decode_id(m->value, "files.id", &id, err) != 0)
    return -1;
  return 0;
}

// The extension fields; checked whenever present, used when "v" is 1.
static int decode_extensions(const rapidjson::Document& d, ProtoRequest* req, std::string* err) {
  Value::ConstMemberIterator m;
  if ((m = d.FindMember("v")) != d.MemberEnd()) {
    if (!m->value.IsInt() || m->value.GetInt() != 1)
      return fail(err, "unsupported protocol version (this tracker speaks \"v\":1)");
    req->extended = true;
  }
  if ((m = d.FindMember("seq")) != d.MemberEnd()) {
    if (!m->value.IsUint64()) return fail(err, "field 'seq' must be a non-negative integer");
    req->seq = m->value.GetUint64();
    req->fields |= FLD_SEQ;
  }
  if ((m = d.FindMember("token")) != d.MemberEnd()) {
    if (!is_hex(m->value, kTokenHexLen))
      return fail(err, "field 'token' must be the 32 hex digits the join answer gave");
    req->token.assign(m->value.GetString(), m->value.GetStringLength());
    req->fields |= FLD_TOKEN;
  }
  if ((m = d.FindMember("numwant")) != d.MemberEnd()) {
    if (!m->value.IsInt() || m->value.GetInt() < 1)
      return fail(err, "field 'numwant' must be a positive integer");
    req->numwant = m->value.GetInt();
    req->fields |= FLD_NUMWANT;
  }
  if ((m = d.FindMember("size")) != d.MemberEnd()) {
    if (decode_size(m->value, "size", &req->size, err) != 0) return -1;
    req->fields |= FLD_SIZE;
  }
  if ((m = d.FindMember("id")) != d.MemberEnd()) {
    if (decode_id(m->value, "id", &req->id, err) != 0) return -1;
    req->fields |= FLD_ID;
  }
  if ((m = d.FindMember("complete")) != d.MemberEnd()) {
    if (!m->value.IsBool()) return fail(err, "field 'complete' must be true or false");
    req->complete = m->value.GetBool();
    req->fields |= FLD_COMPLETE;
  }
  return 0;
}

int proto_decode_request(const char* data, size_t len, ProtoRequest* req, std::string* err) {
  *req = ProtoRequest();
  rapidjson::Document d;
  d.Parse<kParseFlags>(data, len);
  if (d.HasParseError()) return fail(err, "invalid JSON (expected one JSON object per datagram)");
  if (!d.IsObject()) return fail(err, "invalid request: expected a JSON object");

  Value::ConstMemberIterator m = d.FindMember("action");
  if (m == d.MemberEnd() && (d.HasMember("status") || d.HasMember("peers"))) return PROTO_ANSWER;
  if (m == d.MemberEnd()) return fail(err, "missing field 'action'");
  if (!m->value.IsString()) return fail(err, "field 'action' must be a string");
  req->action.assign(m->value.GetString(), m->value.GetStringLength());

  if ((m = d.FindMember("peer_id")) != d.MemberEnd()) {
    if (decode_peer_id(m->value, &req->peer_id, err) != 0) return -1;
    req->fields |= FLD_PEER_ID;
  }
  if ((m = d.FindMember("tcp_port")) != d.MemberEnd()) {
    if (!m->value.IsInt() || m->value.GetInt() < 1 || m->value.GetInt() > 65535)
      return fail(err, "field 'tcp_port' must be an integer from 1 to 65535");
    req->tcp_port = m->value.GetInt();
    req->fields |= FLD_TCP_PORT;
  }
  if ((m = d.FindMember("files")) != d.MemberEnd()) {
    if (!m->value.IsArray()) return fail(err, "field 'files' must be a list of file names");
    if (m->value.Size() > kMaxJoinFiles) return fail(err, "field 'files' lists too many files");
    for (const Value& f : m->value.GetArray()) {
      std::string name;
      if (decode_join_file(f, &name, err) != 0) return -1;
      req->files.push_back(std::move(name));
    }
    req->fields |= FLD_FILES;
  }
  if ((m = d.FindMember("file")) != d.MemberEnd()) {
    if (decode_name(m->value, "file", &req->file, err) != 0) return -1;
    req->fields |= FLD_FILE;
  }
  if ((m = d.FindMember("file_name")) != d.MemberEnd()) {
    if (decode_name(m->value, "file_name", &req->file_name, err) != 0) return -1;
    req->fields |= FLD_FILE_NAME;
  }
  return decode_extensions(d, req, err);
}

void proto_encode_request(const ProtoRequest& req, std::string* out) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("action");
  w.String(req.action.data(), static_cast<rapidjson::SizeType>(req.action.size()));
  if (req.fields & FLD_PEER_ID) {
    w.Key("peer_id");  // as a string, as the seed sends it
    w.String(req.peer_id.data(), static_cast<rapidjson::SizeType>(req.peer_id.size()));
  }
  if (req.fields & FLD_FILES) {
    w.Key("files");
    w.StartArray();
    for (const std::string& f : req.files)
      w.String(f.data(), static_cast<rapidjson::SizeType>(f.size()));
    w.EndArray();
  }
  if (req.fields & FLD_TCP_PORT) {
    w.Key("tcp_port");
    w.Int(req.tcp_port);
  }
  if (req.fields & FLD_FILE) {
    w.Key("file");
    w.String(req.file.data(), static_cast<rapidjson::SizeType>(req.file.size()));
  }
  if (req.fields & FLD_FILE_NAME) {
    w.Key("file_name");
    w.String(req.file_name.data(), static_cast<rapidjson::SizeType>(req.file_name.size()));
  }
  if (req.extended) {
    w.Key("v");
    w.Int(1);
    if (req.fields & FLD_SEQ) {
      w.Key("seq");
      w.Uint64(req.seq);
    }
    if (req.fields & FLD_TOKEN) {
      w.Key("token");
      w.String(req.token.data(), static_cast<rapidjson::SizeType>(req.token.size()));
    }
    if (req.fields & FLD_NUMWANT) {
      w.Key("numwant");
      w.Int(req.numwant);
    }
    if (req.fields & FLD_SIZE) {
      w.Key("size");
      w.Int64(req.size);
    }
    if (req.fields & FLD_ID) {
      w.Key("id");
      w.String(req.id.data(), static_cast<rapidjson::SizeType>(req.id.size()));
    }
    if (req.fields & FLD_COMPLETE) {
      w.Key("complete");
      w.Bool(req.complete);
    }
  }
  w.EndObject();
  out->assign(sb.GetString(), sb.GetSize());
}

/* ----------------------------------------------------------------------------
 * Answers
 * ------------------------------------------------------------------------- */

void proto_encode_ok(std::string* out) {
  out->assign("{\"status\":\"ok\"}");
}

void proto_encode_error(const std::string& message, std::string* out) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("status");
  w.String("error");
  w.Key("message");
  // The message may quote user input; it is already sanitised, and the writer escapes it.
  w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  w.EndObject();
  out->assign(sb.GetString(), sb.GetSize());
}

void proto_encode_peers(const std::vector<ProtoAddr>& peers, size_t max_bytes, std::string* out) {
  static const char kHead[] = "{\"peers\":[";
  static const char kTail[] = "]}";
  out->assign(kHead);
  char entry[96];
  bool first = true;
  for (const ProtoAddr& p : peers) {
    // Addresses come from inet_ntop, so they need no escaping.
    int n = snprintf(entry, sizeof entry, "%s[\"%s\",%d]", first ? "" : ",", p.ip.c_str(), p.port);
    if (n < 0 || static_cast<size_t>(n) >= sizeof entry) continue;
    if (out->size() + static_cast<size_t>(n) + sizeof kTail - 1 > max_bytes) break;
    out->append(entry, static_cast<size_t>(n));
    first = false;
  }
  out->append(kTail);
}

// The extended form of a reply listing the first k sources.
static void encode_extended(const ProtoReply& reply, const ProtoRequest& req, size_t k,
                            std::string* out) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("status");
  w.String(reply.kind == ProtoReply::ERROR ? "error" : "ok");
  w.Key("v");
  w.Int(1);
  if (req.fields & FLD_SEQ) {
    w.Key("seq");
    w.Uint64(req.seq);
  }
  if (reply.kind == ProtoReply::ERROR) {
    w.Key("message");
    w.String(reply.message.data(), static_cast<rapidjson::SizeType>(reply.message.size()));
  }
  if (reply.interval > 0) {
    w.Key("interval");
    w.Int(reply.interval);
  }
  if (!reply.token.empty()) {
    w.Key("token");
    w.String(reply.token.data(), static_cast<rapidjson::SizeType>(reply.token.size()));
  }
  if (reply.kind == ProtoReply::PEERS && !reply.cid.empty()) {
    w.Key("size");
    w.Int64(reply.size);
    w.Key("id");
    w.String(reply.cid.data(), static_cast<rapidjson::SizeType>(reply.cid.size()));
  }
  if (reply.kind == ProtoReply::PEERS) {
    // "peers" keeps the seed's shape and lists complete sources only.
    w.Key("peers");
    w.StartArray();
    for (size_t i = 0; i < k; i++) {
      const ProtoSource& s = reply.sources[i];
      if (!s.complete) continue;
      w.StartArray();
      w.String(s.addr.ip.data(), static_cast<rapidjson::SizeType>(s.addr.ip.size()));
      w.Int(s.addr.port);
      w.EndArray();
    }
    w.EndArray();
    w.Key("sources");
    w.StartArray();
    for (size_t i = 0; i < k; i++) {
      const ProtoSource& s = reply.sources[i];
      w.StartObject();
      w.Key("peer_id");
      w.String(s.peer_id.data(), static_cast<rapidjson::SizeType>(s.peer_id.size()));
      w.Key("ip");
      w.String(s.addr.ip.data(), static_cast<rapidjson::SizeType>(s.addr.ip.size()));
      w.Key("port");
      w.Int(s.addr.port);
      w.Key("complete");
      w.Bool(s.complete);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  out->assign(sb.GetString(), sb.GetSize());
}

void proto_encode_reply(const ProtoReply& reply, const ProtoRequest& req, size_t max_bytes,
                        std::string* out) {
  if (!req.extended) {
    if (reply.kind == ProtoReply::OK) {
      proto_encode_ok(out);
    } else if (reply.kind == ProtoReply::ERROR) {
      proto_encode_error(reply.message, out);
    } else {
      std::vector<ProtoAddr> addrs;
      for (const ProtoSource& s : reply.sources) {
        if (s.complete) addrs.push_back(s.addr);
      }
      proto_encode_peers(addrs, max_bytes, out);
    }
    return;
  }
  size_t k = reply.sources.size();
  encode_extended(reply, req, k, out);
  // Too long: drop sources in proportion to the excess until it fits.
  while (out->size() > max_bytes && k > 0) {
    size_t fit = k * max_bytes / out->size();
    k = fit < k ? fit : k - 1;
    encode_extended(reply, req, k, out);
  }
}

int proto_decode_answer(const char* data, size_t len, ProtoAnswer* ans, std::string* err) {
  *ans = ProtoAnswer();
  rapidjson::Document d;
  d.Parse<kParseFlags>(data, len);
  if (d.HasParseError() || !d.IsObject())
    return fail(err, "tracker sent an answer that is not a JSON object");
  Value::ConstMemberIterator m = d.FindMember("status");
  if (m != d.MemberEnd()) {
    if (!m->value.IsString()) return fail(err, "tracker sent a malformed status");
    ans->has_status = true;
    ans->ok = std::string(m->value.GetString()) == "ok";
    Value::ConstMemberIterator msg = d.FindMember("message");
    if (msg != d.MemberEnd() && msg->value.IsString())
      ans->message =
          out_sanitize(std::string(msg->value.GetString(), msg->value.GetStringLength()), 200);
    else if (!ans->ok)
      ans->message = "tracker refused the request";
  }
  if ((m = d.FindMember("seq")) != d.MemberEnd() && m->value.IsUint64()) {
    ans->has_seq = true;
    ans->seq = m->value.GetUint64();
  }
  if ((m = d.FindMember("interval")) != d.MemberEnd() && m->value.IsInt() && m->value.GetInt() > 0)
    ans->interval = m->value.GetInt();
  if ((m = d.FindMember("token")) != d.MemberEnd() && is_hex(m->value, kTokenHexLen))
    ans->token.assign(m->value.GetString(), m->value.GetStringLength());
  if ((m = d.FindMember("size")) != d.MemberEnd() && m->value.IsInt64() && m->value.GetInt64() >= 0)
    ans->size = m->value.GetInt64();
  if ((m = d.FindMember("id")) != d.MemberEnd() && is_hex(m->value, kContentIdHexLen))
    ans->cid.assign(m->value.GetString(), m->value.GetStringLength());
  if ((m = d.FindMember("sources")) != d.MemberEnd() && m->value.IsArray()) {
    for (const Value& s : m->value.GetArray()) {
      if (!s.IsObject()) continue;
      Value::ConstMemberIterator ip = s.FindMember("ip"), port = s.FindMember("port"),
                                 pid = s.FindMember("peer_id"), comp = s.FindMember("complete");
      if (ip == s.MemberEnd() || port == s.MemberEnd() || !ip->value.IsString() ||
          !port->value.IsInt())
        continue;
      struct in_addr a;
      int pn = port->value.GetInt();
      if (pn < 1 || pn > 65535 || ip->value.GetStringLength() > 15 ||
          inet_pton(AF_INET, ip->value.GetString(), &a) != 1)
        continue;
      ProtoSource src;
      src.addr = ProtoAddr{ip->value.GetString(), pn};
      if (pid != s.MemberEnd() && pid->value.IsString())
        src.peer_id =
            out_sanitize(std::string(pid->value.GetString(), pid->value.GetStringLength()), 64);
      src.complete = comp == s.MemberEnd() || !comp->value.IsBool() || comp->value.GetBool();
      ans->sources.push_back(src);
    }
  }
  m = d.FindMember("peers");
  if (m != d.MemberEnd()) {
    if (!m->value.IsArray()) return fail(err, "tracker sent a malformed peer list");
    for (const Value& p : m->value.GetArray()) {
      // Each entry is ["ip", port]; anything else is skipped rather than trusted.
      if (!p.IsArray() || p.Size() != 2 || !p[0].IsString() || !p[1].IsInt()) continue;
      int port = p[1].GetInt();
      struct in_addr ip;  // only a real IPv4 address reaches our console and log
      if (port < 1 || port > 65535 || p[0].GetStringLength() > 15 ||
          inet_pton(AF_INET, p[0].GetString(), &ip) != 1)
        continue;
      ans->peers.push_back(ProtoAddr{p[0].GetString(), port});
    }
    ans->has_peers = true;
  }
  if (!ans->has_status && !ans->has_peers)
    return fail(err, "tracker sent an answer without status or peers");
  return 0;
}
