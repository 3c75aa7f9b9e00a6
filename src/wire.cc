// The data plane's extended form (PROTOCOL §2): lines <-> values. See wire.h.
#include "wire.h"

#include <cstring>

#include "hex.h"
#include "out.h"
#include "proto.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

using rapidjson::Value;

// Iterative parsing keeps deeply nested input off the C stack; every line is
// validated as UTF-8 whole, as the server and the downloader have always done.
static constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

static int fail(std::string* why, std::string msg) {
  *why = std::move(msg);
  return -1;
}

// Parses one line as a JSON object. A raw NUL byte is never valid JSON, but
// RapidJSON reads one after the root value as the end of its input: refused here.
static bool parse_object(const char* line, size_t len, rapidjson::Document* d) {
  if (len > 0 && memchr(line, '\0', len) != nullptr) return false;
  d->Parse<kParseFlags>(line, len);
  return !d->HasParseError() && d->IsObject();
}

static std::string str_of(const Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

static bool str_is(const Value& v, const char* s) {
  size_t n = strlen(s);
  return v.IsString() && v.GetStringLength() == n && memcmp(v.GetString(), s, n) == 0;
}

static const char* action_name(WireAction a) {
  switch (a) {
    case WIRE_MANIFEST:
      return "manifest";
    case WIRE_HAVE:
      return "have";
    case WIRE_PIECE:
      return "piece";
  }
  return "manifest";
}

/* ---- encoders ------------------------------------------------------------- */

// A JSON string as RapidJSON's Writer escapes it: '"', '\\' and control bytes;
// UTF-8 and '/' as they are.
static void put_json_string(const std::string& s, std::string* out) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  out->append(sb.GetString(), sb.GetSize());
}

void wire_encode_request(const WireRequest& r, std::string* out) {
  out->append("{\"action\":\"");
  out->append(action_name(r.action));
  out->append("\",\"file\":");
  put_json_string(r.file, out);
  if (r.action == WIRE_PIECE) {
    out->append(",\"index\":");
    out->append(std::to_string(r.index));
    if (!r.want.empty()) {
      out->append(",\"want\":");
      put_json_string(r.want, out);
    }
  }
  if (r.action == WIRE_HAVE && r.watch) out->append(",\"watch\":true");
  out->append("}\n");
}

void wire_encode_manifest_answer(const Manifest& m, std::string* out) {
  std::string mj;
  manifest_encode(m, &mj);
  out->append("{\"status\":\"ok\",\"manifest\":");
  out->append(mj);
  out->append("}\n");
}

void wire_encode_have_answer(const std::string& bitfield_hex, std::string* out) {
  out->append("{\"status\":\"ok\",\"pieces\":");
  put_json_string(bitfield_hex, out);  // hex as it is; escaped should it be anything else
  out->append("}\n");
}

void wire_encode_piece_header(uint32_t index, uint64_t length, std::string* out) {
  out->append("{\"status\":\"ok\",\"index\":");
  out->append(std::to_string(index));
  out->append(",\"length\":");
  out->append(std::to_string(length));
  out->append("}\n");
}

void wire_encode_error(const std::string& message, std::string* out) {
  std::string e;
  proto_encode_error(message, &e);  // it overwrites its output
  out->append(e);
  out->push_back('\n');
}

void wire_encode_have_event(uint32_t index, std::string* out) {
  out->append("{\"event\":\"have\",\"index\":");
  out->append(std::to_string(index));
  out->append("}\n");
}

/* ---- decoders ------------------------------------------------------------- */

int wire_decode_request(const char* line, size_t len, WireRequest* out, std::string* why) {
  *out = WireRequest();
  rapidjson::Document d;
  if (!parse_object(line, len, &d)) return fail(why, "a request is one JSON object per line");
  Value::ConstMemberIterator a = d.FindMember("action"), f = d.FindMember("file");
  if (a == d.MemberEnd() || !a->value.IsString()) return fail(why, "missing field 'action'");
  if (f == d.MemberEnd() || !f->value.IsString()) return fail(why, "missing field 'file'");
  std::string name = str_of(f->value), reason;
  if (proto_check_name(name, &reason) != 0) return fail(why, reason);
  // Each optional field is checked by the action that uses it; the others ignore
  // it, as they ignore any member they do not know.
  Value::ConstMemberIterator m;
  if (str_is(a->value, "manifest")) {
    out->action = WIRE_MANIFEST;
  } else if (str_is(a->value, "have")) {
    out->action = WIRE_HAVE;
    if ((m = d.FindMember("watch")) != d.MemberEnd()) {
      if (!m->value.IsBool()) return fail(why, "field 'watch' must be true or false");
      out->watch = m->value.GetBool();
    }
  } else if (str_is(a->value, "piece")) {
    out->action = WIRE_PIECE;
    if ((m = d.FindMember("index")) == d.MemberEnd() || !m->value.IsUint())
      return fail(why, "field 'index' must be a piece number");
    out->index = m->value.GetUint();
    if ((m = d.FindMember("want")) != d.MemberEnd()) {
      if (!m->value.IsString()) return fail(why, "field 'want' must be a piece list (hex)");
      out->want = str_of(m->value);
    }
  } else {
    return fail(why, "unknown action '" + out_sanitize(str_of(a->value), 40) + "'");
  }
  out->file = std::move(name);
  return 0;
}

int wire_decode_answer(const char* line, size_t len, WireAnswer* out, std::string* why) {
  *out = WireAnswer();
  rapidjson::Document d;
  if (!parse_object(line, len, &d)) return fail(why, "sent an answer that is not JSON");
  Value::ConstMemberIterator m, n;
  // A pushed event is told by its own member, not by "status".
  if ((m = d.FindMember("event")) != d.MemberEnd() && str_is(m->value, "have") &&
      (n = d.FindMember("index")) != d.MemberEnd() && n->value.IsUint()) {
    out->kind = WIRE_EVENT_HAVE;
    out->index = n->value.GetUint();
    return 0;
  }
  if ((m = d.FindMember("status")) == d.MemberEnd() || !m->value.IsString())
    return fail(why, "sent an answer without a status");
  if (!str_is(m->value, "ok")) {
    out->kind = WIRE_ANS_ERROR;
    if ((n = d.FindMember("message")) != d.MemberEnd() && n->value.IsString())
      out->message = str_of(n->value);
    return 0;
  }
  if ((m = d.FindMember("manifest")) != d.MemberEnd() && m->value.IsObject()) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    m->value.Accept(w);
    std::string err;
    if (manifest_decode(sb.GetString(), sb.GetSize(), &out->manifest, &err) != 0) {
      out->manifest = Manifest();
      return fail(why, err);
    }
    out->kind = WIRE_ANS_MANIFEST;
    return 0;
  }
  if ((m = d.FindMember("pieces")) != d.MemberEnd() && m->value.IsString()) {
    out->kind = WIRE_ANS_HAVE;
    out->pieces = str_of(m->value);
    return 0;
  }
  if ((m = d.FindMember("index")) != d.MemberEnd() && m->value.IsUint() &&
      (n = d.FindMember("length")) != d.MemberEnd() && n->value.IsUint64()) {
    out->kind = WIRE_ANS_PIECE;
    out->index = m->value.GetUint();
    out->length = n->value.GetUint64();
    return 0;
  }
  return fail(why, "sent an \"ok\" answer with no manifest, piece list or piece");
}

/* ---- bitfields ------------------------------------------------------------ */

std::string wire_bitfield_hex(const std::vector<uint8_t>& have, size_t pieces) {
  std::vector<unsigned char> bytes((pieces + 7) / 8, 0);
  for (size_t i = 0; i < pieces && i < have.size(); i++) {
    if (have[i]) bytes[i / 8] |= static_cast<unsigned char>(0x80 >> (i % 8));
  }
  return manifest_hex(bytes.data(), bytes.size());
}

int wire_bitfield_parse(const std::string& hex, size_t pieces, std::vector<uint8_t>* have) {
  if (pieces > SIZE_MAX - 7 || hex.size() != (pieces + 7) / 8 * 2) return -1;
  std::vector<uint8_t> h(pieces, 0);
  // Every digit is checked (lowercase only, as hex.h has it), and the padding
  // bits past the last piece must be clear: one form per set of pieces.
  for (size_t d = 0; d < hex.size(); d++) {
    int v = hex_digit(hex[d]);
    if (v < 0) return -1;
    for (size_t b = 0; b < 4; b++) {
      size_t i = d * 4 + b;
      int bit = (v >> (3 - b)) & 1;
      if (i < pieces)
        h[i] = static_cast<uint8_t>(bit);
      else if (bit)
        return -1;
    }
  }
  have->swap(h);
  return 0;
}
