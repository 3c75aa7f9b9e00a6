// What any decoded request must satisfy, checked against RapidJSON's own DOM
// reading of the same bytes: the unit tests' mutated requests and the datagram
// fuzzer use it. requests_equal compares two decoded requests field by field.
#pragma once

#include <cstring>
#include <string>

#include "proto.h"
#include "rapidjson/document.h"

inline bool requests_equal(const ProtoRequest& a, const ProtoRequest& b) {
  return a.action == b.action && a.extended == b.extended && a.fields == b.fields &&
         a.peer_id == b.peer_id && a.files == b.files && a.tcp_port == b.tcp_port &&
         a.file == b.file && a.file_name == b.file_name && a.seq == b.seq && a.token == b.token &&
         a.numwant == b.numwant && a.size == b.size && a.id == b.id && a.complete == b.complete &&
         a.cursor == b.cursor && a.limit == b.limit;
}

// The fields that proto_encode_request writes only with "v":1.
constexpr uint32_t kExtensionFields =
    FLD_SEQ | FLD_TOKEN | FLD_NUMWANT | FLD_SIZE | FLD_ID | FLD_COMPLETE;

// Decodes `s` and checks the result against a DOM parse of it:
//   - "invalid JSON" exactly when RapidJSON cannot parse it (or it holds a NUL);
//   - "expected a JSON object" exactly when it is JSON but not an object;
//   - PROTO_ANSWER exactly when an object has "status" or "peers" and no "action";
//   - a request decoded without error has exactly the known fields the object
//     has (at its top level), and encodes to a request that decodes the same.
// Returns "" when all hold, else what broke.
inline std::string request_check(const std::string& s) {
  ProtoRequest r;
  std::string err;
  int rc = proto_decode_request(s.data(), s.size(), &r, &err);
  // Parsed from a NUL-terminated copy: RapidJSON's Parse(text, length) reads
  // through a stream that skips a byte-order mark (in 1.1, even a lone 0xEF),
  // which the tracker, like the seed, refuses as not JSON. A NUL is checked apart.
  std::string text(s);
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(text.c_str());
  bool not_json = d.HasParseError() || memchr(s.data(), '\0', s.size()) != nullptr;
  if ((rc == -1 && err == "invalid JSON (expected one JSON object per datagram)") != not_json)
    return "decoder and RapidJSON differ on whether it is JSON: " + err;
  if (not_json) return "";
  if ((rc == -1 && err == "invalid request: expected a JSON object") != !d.IsObject())
    return "decoder and RapidJSON differ on whether it is an object: " + err;
  if (!d.IsObject()) return "";
  bool answer = !d.HasMember("action") && (d.HasMember("status") || d.HasMember("peers"));
  if ((rc == PROTO_ANSWER) != answer) return "taken for an answer wrongly";
  if (rc != 0) return "";
  for (uint32_t f = 1; f <= FLD_LIMIT; f <<= 1) {
    if (((r.fields & f) != 0) != d.HasMember(proto_field_name(f)))
      return std::string("field '") + proto_field_name(f) + "' decoded wrongly";
  }
  ProtoRequest expect = r;
  if (!r.extended) {  // encoded without "v", the extensions are left out
    ProtoRequest plain;
    expect.fields &= ~kExtensionFields;
    expect.seq = plain.seq;
    expect.token = plain.token;
    expect.numwant = plain.numwant;
    expect.size = plain.size;
    expect.id = plain.id;
    expect.complete = plain.complete;
  }
  std::string again;
  proto_encode_request(r, &again);
  ProtoRequest back;
  if (proto_decode_request(again.data(), again.size(), &back, &err) != 0)
    return "its encoding does not decode: " + err;
  if (!requests_equal(back, expect)) return "its encoding decodes to another request: " + again;
  return "";
}
