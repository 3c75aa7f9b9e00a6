// BEP 15 (the UDP tracker protocol): its datagrams decoded and encoded, pure
// functions over bytes (all integers big-endian on the wire). The tracker's
// datagram path (tracker.cc) uses the request decoder and the answer encoders;
// the request encoders and the answer decoder serve tests and load generators.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "btstore.h"

constexpr uint64_t kBep15Magic = 0x41727101980ull;  // a connect request's protocol id
constexpr size_t kBep15MaxScrape = 74;              // info hashes one scrape may ask for
constexpr size_t kBep15AnnounceLen = 98;            // an announce request without extensions
enum Bep15Action { BEP15_CONNECT = 0, BEP15_ANNOUNCE = 1, BEP15_SCRAPE = 2, BEP15_ERROR = 3 };

struct Bep15Request {
  int action = -1;
  uint64_t connection_id = 0;  // announce, scrape
  uint32_t transaction_id = 0;
  // announce (a.ip stays 0: the tracker sets the sender's address)
  BtAnnounce a = {};
  uint64_t downloaded = 0, uploaded = 0;
  uint32_t ip_field = 0;  // the request's ip field, network order, as sent (ignored)
  // scrape
  BtHash hashes[kBep15MaxScrape];
  size_t nhashes = 0;
};

// True when the datagram looks like a BEP 15 request at all: 16 bytes or more,
// and the connect magic with action 0, or action announce or scrape. Anything
// else (JSON starts with '{') belongs to the tracker's JSON path.
bool bep15_is_request(const uint8_t* d, size_t len);
// Decodes a request. Returns 0, or -1 with *why (a short text) when it is not
// one: too short, a wrong magic, an unknown action, a scrape of more than
// kBep15MaxScrape hashes or whose length is not 16 + 20 n. The transaction id
// is read whenever there are 16 bytes, so an error can carry it.
int bep15_decode_request(const uint8_t* d, size_t len, Bep15Request* r, const char** why);

// Answers (appended to *out after clearing it).
void bep15_encode_connect(uint32_t tid, uint64_t connection_id, std::string* out);
void bep15_encode_announce(uint32_t tid, uint32_t interval, const BtCounts& c,
                           const std::vector<BtPeerAddr>& peers, std::string* out);
void bep15_encode_scrape(uint32_t tid, const BtCounts* counts, size_t n, std::string* out);
// At most max_len bytes in all (the message is cut to fit; 8 bytes at least).
void bep15_encode_error(uint32_t tid, const char* message, size_t max_len, std::string* out);

// Requests, as a client sends them.
void bep15_encode_connect_request(uint32_t tid, std::string* out);
void bep15_encode_announce_request(uint64_t connection_id, uint32_t tid, const BtAnnounce& a,
                                   std::string* out);
void bep15_encode_scrape_request(uint64_t connection_id, uint32_t tid, const BtHash* hashes,
                                 size_t n, std::string* out);

// An answer as a client reads it.
struct Bep15Answer {
  int action = -1;
  uint32_t transaction_id = 0;
  uint64_t connection_id = 0;  // connect
  uint32_t interval = 0, leechers = 0, seeders = 0;
  std::vector<BtPeerAddr> peers;  // announce
  std::vector<BtCounts> files;    // scrape
  std::string message;            // error
};
int bep15_decode_answer(const uint8_t* d, size_t len, Bep15Answer* a, const char** why);
