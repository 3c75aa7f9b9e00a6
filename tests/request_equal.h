// Whether the request decoder's fast reader and RapidJSON agree on a datagram
// (src/proto.cc): same result, same error text, same fields. Used by the unit
// tests and by the datagram fuzzer.
#pragma once

#include <string>

#include "proto.h"

inline bool requests_equal(const ProtoRequest& a, const ProtoRequest& b) {
  return a.action == b.action && a.extended == b.extended && a.fields == b.fields &&
         a.peer_id == b.peer_id && a.files == b.files && a.tcp_port == b.tcp_port &&
         a.file == b.file && a.file_name == b.file_name && a.seq == b.seq && a.token == b.token &&
         a.numwant == b.numwant && a.size == b.size && a.id == b.id && a.complete == b.complete &&
         a.cursor == b.cursor && a.limit == b.limit;
}

// Decodes `s` with the fast reader allowed, then with RapidJSON only.
inline bool both_readers_agree(const std::string& s, std::string* errs = nullptr) {
  ProtoRequest fast, slow;
  std::string fast_err, slow_err;
  int rf = proto_decode_request(s.data(), s.size(), &fast, &fast_err);
  proto_set_fast_parse(false);
  int rs = proto_decode_request(s.data(), s.size(), &slow, &slow_err);
  proto_set_fast_parse(true);
  if (errs != nullptr) *errs = fast_err + " | " + slow_err;
  if (rf != rs || fast_err != slow_err) return false;
  return rf != 0 || requests_equal(fast, slow);
}
