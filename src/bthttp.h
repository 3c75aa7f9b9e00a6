// BitTorrent HTTP tracker requests (BEP 3 announce with BEP 23 compact
// answers, and scrape): the query string decoded and checked, the store asked
// through btstore.h, the bencoded answer built. Refusals are bencoded
// "failure reason" dictionaries (served with HTTP 200, as trackers do). No
// sockets: tracker.cc's /announce and /scrape routes call these, and tests do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "btstore.h"

// The most info_hash parameters one scrape may carry (as many as a BEP 15
// scrape datagram holds).
constexpr size_t kBtScrapeMaxHashes = 74;
// The longest `key` parameter accepted, decoded.
constexpr size_t kBtMaxKeyLen = 64;

// One name=value pair of a query string, both percent-decoded.
struct BtQueryParam {
  std::string name;
  std::string value;
};

// Splits a query string at '&' and '=' and percent-decodes each part ('+' is
// a space). False with *why when an escape is bad ("%zz", or cut short).
bool bt_query_split(const std::string& query, std::vector<BtQueryParam>* out, std::string* why);

// A checked announce query: what the store needs (ip left 0 for the caller)
// and whether a compact answer was asked for.
struct BtHttpAnnounce {
  BtAnnounce a;
  bool compact = true;
};

// Decodes an announce query. False with *why on a missing or repeated
// info_hash, peer_id, port or left; an info_hash or peer_id other than 20
// bytes; a port outside 1..65535; integers that are not decimal or do not
// fit; an unknown event; compact=0 (only compact answers are served, as
// BEP 23 allows); a key longer than kBtMaxKeyLen. Unknown parameters (ip
// among them) are ignored.
bool bt_http_parse_announce(const std::string& query, BtHttpAnnounce* out, std::string* why);

// Decodes a scrape query: one to kBtScrapeMaxHashes info_hash parameters of
// 20 bytes each (repeats counted once). False with *why otherwise.
bool bt_http_parse_scrape(const std::string& query, std::vector<BtHash>* out, std::string* why);

// What the routes counted (shown in /metrics).
struct BtHttpCounts {
  uint64_t announces = 0;  // answered with peers
  uint64_t scrapes = 0;    // answered with counts
  uint64_t failures = 0;   // answered with a failure reason
};

// One GET /announce: its query string, from IPv4 address ip (network order), at now_ms.
struct BtHttpCall {
  const std::string& query;
  uint32_t ip;
  int64_t now_ms;
};
// Handles an announce: fills *body with the bencoded answer and counts it in *counts.
void bt_http_announce(BtStore* s, const BtLimits& lim, const BtHttpCall& call, std::string* body,
                      BtHttpCounts* counts);
// Handles GET /scrape?query the same way.
void bt_http_scrape(const BtStore* s, const std::string& query, std::string* body,
                    BtHttpCounts* counts);
