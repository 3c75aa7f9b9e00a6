// Reading a request datagram's JSON (proto_read.cc) into the table of members
// the request decoder knows, for proto.cc to validate. Private to the proto
// module: the tracker calls proto_decode_request (proto.h), never this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "rapidjson/document.h"

// The top-level request members the decoder knows (unknown ones are dropped
// as they are read). "status" and "peers" mark a datagram that is an answer.
enum ProtoMember {
  M_ACTION,
  M_PEER_ID,
  M_TCP_PORT,
  M_FILES,
  M_FILE,
  M_FILE_NAME,
  M_V,
  M_SEQ,
  M_TOKEN,
  M_NUMWANT,
  M_SIZE,
  M_ID,
  M_COMPLETE,
  M_STATUS,
  M_PEERS,
  M_CURSOR,
  M_LIMIT,
  M_COUNT
};

// The members of a join's file object that the decoder reads.
enum ProtoFileMember { FM_NAME, FM_SIZE, FM_ID, FM_COUNT };

// One entry of a join's "files" list: a scalar as RapidJSON's value, or an
// array or object as an empty one of its kind (an object's own members that
// the decoder reads are kept beside it).
struct ProtoFileEntry {
  rapidjson::Value value;
  rapidjson::Value member[FM_COUNT];
  uint32_t seen = 0;  // bit k: member k was present
};

// A request's known members, each the first of its key: scalars as RapidJSON
// values (strings point into `text`), arrays and objects as empty ones of their
// kind, apart from the entries of "files".
struct ProtoMembers {
  rapidjson::Value v[M_COUNT];
  uint32_t seen = 0;  // bit k: member k was present
  // "files", when it is a list: how many entries it has, and the first
  // kMaxJoinFiles of them (more make the request wrong whatever they are).
  size_t file_count = 0;
  std::vector<ProtoFileEntry> files;
  std::vector<char> text;  // the reader's copy of the datagram, read in place
};

// The member k of m, or null when the request did not carry it.
inline const rapidjson::Value* proto_member(const ProtoMembers& m, ProtoMember k) {
  return (m.seen >> k) & 1 ? &m.v[k] : nullptr;
}
inline const rapidjson::Value* proto_file_member(const ProtoFileEntry& f, ProtoFileMember k) {
  return (f.seen >> k) & 1 ? &f.member[k] : nullptr;
}

constexpr int PROTO_READ_NOT_JSON = -1;
constexpr int PROTO_READ_NOT_OBJECT = -2;

// Reads the JSON text data[0, len) into *m (cleared first; reused, it keeps its
// buffers). Returns 0, PROTO_READ_NOT_JSON (RapidJSON refuses it, or it holds
// a NUL byte) or PROTO_READ_NOT_OBJECT (JSON, but not an object).
int proto_read_request(const char* data, size_t len, ProtoMembers* m);
