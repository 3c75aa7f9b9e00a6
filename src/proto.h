// The control-plane wire forms (PROTOCOL.md §1) and names (§4): JSON datagrams
// decoded into validated structs, and answers encoded back. No libuv, no I/O:
// the tracker, the peer and the tests call these directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "proto_source.h"
#include "utf8.h"

// Which request fields a datagram carried; the tracker's action table says which
// ones each action needs.
enum ProtoField : uint32_t {
  FLD_PEER_ID = 1u << 0,
  FLD_FILES = 1u << 1,
  FLD_TCP_PORT = 1u << 2,
  FLD_FILE = 1u << 3,       // "file" (share_file)
  FLD_FILE_NAME = 1u << 4,  // "file_name" (get_peers, got_the_file)
  // Extensions (PROTOCOL §1): present only in requests that carry "v":1.
  FLD_SEQ = 1u << 5,
  FLD_TOKEN = 1u << 6,
  FLD_NUMWANT = 1u << 7,
  FLD_SIZE = 1u << 8,
  FLD_ID = 1u << 9,
  FLD_COMPLETE = 1u << 10,  // share_file: false for a partial copy
  FLD_CURSOR = 1u << 11,    // list: where the page starts (the previous answer's "next")
  FLD_LIMIT = 1u << 12,     // list: rows wanted
};

constexpr size_t kTokenHexLen = 32;      // 128 bits, hex
constexpr size_t kContentIdHexLen = 64;  // SHA-256, hex

struct ProtoRequest {
  std::string action;
  bool extended = false;  // carried "v":1
  uint32_t fields = 0;
  std::string peer_id;  // an integer id is kept in decimal: 3 and "3" are one id
  std::vector<std::string> files;
  int tcp_port = 0;
  std::string file;
  std::string file_name;
  uint64_t seq = 0;
  std::string token;
  int numwant = 0;
  int64_t size = -1;  // share_file / got_the_file: the file's size, when given
  std::string id;     // and its content id (PROTOCOL §3)
  bool complete = true;
  uint64_t cursor = 0;  // list
  int limit = 0;        // list: rows wanted (the tracker bounds it by kMaxListRows)
};

struct ProtoAddr {
  std::string ip;
  int port = 0;
};

struct ProtoSource {
  std::string peer_id;
  ProtoAddr addr;
  bool complete = true;
};

// A source's bytes for the registry to keep (RegJoin::blob) and the encoder to
// list (ProtoSourceRef): made once per peer when it joins (its id, its IPv4
// address in network byte order, its TCP port), so that listing it in an
// answer is copying. What they hold is this module's business.
void proto_source_blob(const std::string& peer_id, uint32_t ip, int port, std::string* out);
inline ProtoSourceRef proto_source_ref(const std::string& blob, int port, bool complete) {
  return ProtoSourceRef{blob.data(), static_cast<uint16_t>(blob.size()), port, complete};
}

// One of several contents a name or a content id prefix could mean (extended
// get_peers answers list them for the asker to choose).
struct ProtoContent {
  std::string cid;         // 64 hex digits
  int64_t size = -1;       // as its holders announced
  int64_t holders = 0;     // holders that announced it
  int64_t first_seen = 0;  // Unix time, seconds: when the tracker first saw it under the name
};

// One (name, content) row of a `list` answer.
struct ProtoListRow {
  std::string name;
  std::string cid;    // 64 hex digits; "" when its holders announced none (seed peers)
  int64_t size = -1;  // -1: unknown
  int64_t holders = 0;
  int64_t complete = 0;  // of the holders, those with a complete copy
};

// What the tracker answers, before encoding: handlers fill this, and
// proto_encode_reply writes the seed form or the extended one.
struct ProtoReply {
  enum Kind { OK, ERROR, PEERS, LIST } kind = OK;
  std::string message;                  // ERROR
  std::vector<ProtoSourceRef> sources;  // PEERS
  int interval = 0;                     // join, extended: heartbeat period in seconds
  std::string token;                    // join, extended
  int64_t size = -1;  // PEERS, extended: the file's size and content id, when known
  std::string cid;
  std::string name;                    // PEERS found by content id: the name it is shared under
  std::vector<ProtoContent> contents;  // PEERS: the candidates when more than one content fits
  int64_t contents_total = 0;          // ... and how many there are (contents may list fewer)
  int64_t others = -1;  // share_file, extended: other contents under the name (-1: not said)
  std::vector<ProtoListRow> rows;  // LIST: a page of the tracker's files
  uint64_t next = 0;               // ... the cursor of the next page (0: none)
  int64_t total = 0;               // ... and how many names the tracker has
};

// A tracker's answer as a peer reads it.
struct ProtoAnswer {
  bool has_status = false;
  bool ok = false;
  std::string message;  // for an error status
  bool has_peers = false;
  std::vector<ProtoAddr> peers;
  bool has_seq = false;
  uint64_t seq = 0;
  int interval = 0;  // > 0: an extended tracker that wants heartbeats
  std::string token;
  int64_t size = -1;  // get_peers: the file's size and content id, when the tracker knows them
  std::string cid;
  std::vector<ProtoSource> sources;    // get_peers, extended: complete and partial sources
  std::string name;                    // get_peers by content id: the name it is shared under
  std::vector<ProtoContent> contents;  // get_peers: several contents fit; choose one
  int64_t contents_total = 0;
  int64_t others = -1;              // share_file: other contents the tracker has under the name
  bool has_files = false;           // list: a page of the tracker's files
  std::vector<ProtoListRow> files;  // (rows that are not well formed are left out)
  uint64_t next = 0;                // the cursor of the next page; 0: the last page
  int64_t total = -1;               // names the tracker has (-1: not said)
};

// Checks a file name against PROTOCOL §4. Returns 0, or -1 with *why set.
int proto_check_name(const char* s, size_t n, std::string* why);
inline int proto_check_name(const std::string& s, std::string* why) {
  return proto_check_name(s.data(), s.size(), why);
}
// Whether s[0, n) is valid UTF-8, as names and ids must be (PROTOCOL §4).
inline bool proto_utf8_valid(const char* s, size_t n) {
  return utf8_valid(s, n);
}

// The wire name of one ProtoField bit ("peer_id", ...).
const char* proto_field_name(uint32_t field);

// "a.b.c.d" for an IPv4 address in network byte order; buf holds at least 16
// bytes. Returns the length.
size_t proto_ip_format(uint32_t ip, char* buf);

// Decodes one request datagram. Every field present is type- and range-checked,
// whatever the action; unknown fields are ignored (they are extensions).
// Returns 0; PROTO_ANSWER for a datagram that is itself an answer (never to be
// answered: two trackers would bounce errors forever); or -1 with *err set to a
// message a person can act on.
constexpr int PROTO_ANSWER = -2;
int proto_decode_request(const char* data, size_t len, ProtoRequest* req, std::string* err);

// Encodes a request with the fields named in req.fields: the seed's form, plus
// "v":1 and the extension fields when req.extended.
void proto_encode_request(const ProtoRequest& req, std::string* out);

// Answers.
void proto_encode_ok(std::string* out);
void proto_encode_error(const std::string& message, std::string* out);
// {"peers":[["ip",port],...]}: the complete sources, as many as fit in max_bytes.
void proto_encode_peers(const std::vector<ProtoSourceRef>& sources, size_t max_bytes,
                        std::string* out);
// Encodes a reply to `req`: the seed's form for a seed request; for an extended
// one, "status", "v" and the echoed "seq" too, and a peer list also as
// "sources". Peer lists are cut to keep the whole answer within max_bytes.
void proto_encode_reply(const ProtoReply& reply, const ProtoRequest& req, size_t max_bytes,
                        std::string* out);

// How many of reply.rows (kind LIST) fit, with the rest of the answer to
// `req`, within max_bytes. proto_encode_reply leaves out the rows past it.
size_t proto_list_fit(const ProtoReply& reply, const ProtoRequest& req, size_t max_bytes);

// Decodes a tracker's answer. Returns 0, or -1 with *err set.
int proto_decode_answer(const char* data, size_t len, ProtoAnswer* ans, std::string* err);
