// BitTorrent HTTP announce and scrape; see bthttp.h.
#include "bthttp.h"

#include <algorithm>
#include <climits>
#include <cstring>

#include "bencode.h"

/* ----------------------------------------------------------------------------
 * Query strings
 * ------------------------------------------------------------------------- */

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool percent_decode(const char* p, size_t n, std::string* out) {
  out->clear();
  out->reserve(n);
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '+') {
      *out += ' ';
    } else if (p[i] != '%') {
      *out += p[i];
    } else {
      if (i + 2 >= n) return false;  // cut short
      int hi = hex_digit(p[i + 1]), lo = hex_digit(p[i + 2]);
      if (hi < 0 || lo < 0) return false;
      *out += static_cast<char>(hi << 4 | lo);
      i += 2;
    }
  }
  return true;
}

bool bt_query_split(const std::string& query, std::vector<BtQueryParam>* out, std::string* why) {
  out->clear();
  size_t start = 0;
  while (start <= query.size()) {
    size_t amp = query.find('&', start);
    if (amp == std::string::npos) amp = query.size();
    if (amp > start) {
      const char* part = query.data() + start;
      size_t len = amp - start;
      const char* eq = static_cast<const char*>(memchr(part, '=', len));
      size_t name_len = eq != nullptr ? static_cast<size_t>(eq - part) : len;
      BtQueryParam q;
      if (!percent_decode(part, name_len, &q.name) ||
          (eq != nullptr && !percent_decode(eq + 1, len - name_len - 1, &q.value))) {
        *why = "bad percent-encoding in the query";
        return false;
      }
      out->push_back(std::move(q));
    }
    start = amp + 1;
  }
  return true;
}

// A decimal integer of at most 20 digits that fits in a uint64_t.
static bool parse_u64(const std::string& s, uint64_t* v) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (n > (UINT64_MAX - d) / 10) return false;
    n = n * 10 + d;
  }
  *v = n;
  return true;
}

// The key as a number: up to 8 hex digits are read as one (what most clients
// send); anything else is hashed (FNV-1a), as the store only compares keys.
static uint32_t key_value(const std::string& s) {
  if (!s.empty() && s.size() <= 8) {
    uint32_t v = 0;
    bool hex = true;
    for (char c : s) {
      int d = hex_digit(c);
      if (d < 0) {
        hex = false;
        break;
      }
      v = v << 4 | static_cast<uint32_t>(d);
    }
    if (hex) return v;
  }
  uint32_t h = 2166136261u;
  for (char c : s)
    h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return h;
}

/* ----------------------------------------------------------------------------
 * Announce
 * ------------------------------------------------------------------------- */

// Readers of one announce parameter's value into the announce. Each returns
// false with *why when the value is not one it takes.
typedef bool (*BtParamRead)(const std::string& name, const std::string& v, BtAnnounce* a,
                            std::string* why);

static bool read_id20(const std::string& n, const std::string& v, BtAnnounce* a, std::string* why) {
  if (v.size() != 20) {
    *why = n + " must be 20 bytes (percent-encoded), got " + std::to_string(v.size());
    return false;
  }
  memcpy(n == "info_hash" ? a->info_hash.b : a->peer_id, v.data(), 20);
  return true;
}

static bool read_port(const std::string&, const std::string& v, BtAnnounce* a, std::string* why) {
  uint64_t num = 0;
  if (!parse_u64(v, &num) || num < 1 || num > 65535) {
    *why = "port must be a number from 1 to 65535";
    return false;
  }
  a->port = static_cast<uint16_t>(num);
  return true;
}

// left, uploaded, downloaded: only left is kept.
static bool read_bytes(const std::string& n, const std::string& v, BtAnnounce* a,
                       std::string* why) {
  uint64_t num = 0;
  if (!parse_u64(v, &num)) {
    *why = n + " must be a decimal number of bytes";
    return false;
  }
  if (n == "left") a->left = num;
  return true;
}

static bool read_event(const std::string&, const std::string& v, BtAnnounce* a, std::string* why) {
  if (v == "started")
    a->event = BT_EVENT_STARTED;
  else if (v == "completed")
    a->event = BT_EVENT_COMPLETED;
  else if (v == "stopped")
    a->event = BT_EVENT_STOPPED;
  else if (v.empty() || v == "empty" || v == "paused")
    a->event = BT_EVENT_NONE;
  else {
    *why = "event must be started, completed, stopped or empty";
    return false;
  }
  return true;
}

// A negative number asks for the default, as BEP 15's -1 does.
static bool read_numwant(const std::string&, const std::string& v, BtAnnounce* a,
                         std::string* why) {
  uint64_t num = 0;
  bool negative = !v.empty() && v[0] == '-';
  if (!parse_u64(negative ? v.substr(1) : v, &num)) {
    *why = "numwant must be a decimal number";
    return false;
  }
  a->numwant = negative ? -1 : num > INT32_MAX ? INT32_MAX : static_cast<int32_t>(num);
  return true;
}

static bool read_compact(const std::string&, const std::string& v, BtAnnounce*, std::string* why) {
  if (v == "0") {
    *why = "only compact peer lists are served: ask with compact=1";
    return false;
  }
  if (v != "1") {
    *why = "compact must be 1";
    return false;
  }
  return true;
}

static bool read_key(const std::string&, const std::string& v, BtAnnounce* a, std::string* why) {
  if (v.size() > kBtMaxKeyLen) {
    *why = "key is longer than " + std::to_string(kBtMaxKeyLen) + " bytes";
    return false;
  }
  a->key = key_value(v);
  return true;
}

// The announce parameters that are read; others (ip, no_peer_id,
// supportcrypto, trackerid, ...) are not used. The required ones are named
// when missing in this order.
struct BtParam {
  const char* name;
  BtParamRead read;
  bool required;
};
static const BtParam kAnnounceParams[] = {
    {"info_hash", read_id20, true},   {"peer_id", read_id20, true},
    {"port", read_port, true},        {"left", read_bytes, true},
    {"uploaded", read_bytes, false},  {"downloaded", read_bytes, false},
    {"event", read_event, false},     {"numwant", read_numwant, false},
    {"compact", read_compact, false}, {"key", read_key, false},
};
constexpr size_t kAnnounceParamCount = sizeof kAnnounceParams / sizeof kAnnounceParams[0];

static const BtParam* announce_param(const std::string& name, size_t* index) {
  for (size_t i = 0; i < kAnnounceParamCount; i++) {
    if (name == kAnnounceParams[i].name) {
      *index = i;
      return &kAnnounceParams[i];
    }
  }
  return nullptr;
}

bool bt_http_parse_announce(const std::string& query, BtHttpAnnounce* out, std::string* why) {
  std::vector<BtQueryParam> params;
  if (!bt_query_split(query, &params, why)) return false;
  *out = BtHttpAnnounce();
  memset(&out->a, 0, sizeof out->a);
  out->a.numwant = -1;
  out->a.event = BT_EVENT_NONE;
  bool seen[kAnnounceParamCount] = {};
  for (const BtQueryParam& q : params) {
    size_t i = 0;
    const BtParam* param = announce_param(q.name, &i);
    if (param == nullptr) continue;
    if (seen[i]) {
      *why = q.name + " given twice";
      return false;
    }
    seen[i] = true;
    if (!param->read(q.name, q.value, &out->a, why)) return false;
  }
  for (size_t i = 0; i < kAnnounceParamCount; i++) {
    if (kAnnounceParams[i].required && !seen[i]) {
      *why = std::string("missing ") + kAnnounceParams[i].name;
      return false;
    }
  }
  return true;
}

// A refusal: the bencoded "failure reason" answer, counted.
static void bt_http_refuse(const std::string& why, std::string* body, BtHttpCounts* counts) {
  *body = bencode_failure(why);
  counts->failures++;
}

void bt_http_announce(BtStore* s, const BtLimits& lim, const BtHttpCall& call, std::string* body,
                      BtHttpCounts* counts) {
  BtHttpAnnounce req;
  std::string why;
  body->clear();
  if (!bt_http_parse_announce(call.query, &req, &why)) return bt_http_refuse(why, body, counts);
  req.a.ip = call.ip;
  BtAnswer ans;
  if (bt_announce(s, req.a, call.now_ms, &ans) != 0)
    return bt_http_refuse(ans.why != nullptr ? ans.why : "refused", body, counts);
  const std::vector<BtPeerAddr>& peers = ans.peers;
  const BtCounts& c = ans.counts;
  std::string compact;
  compact.reserve(peers.size() * 6);
  for (const BtPeerAddr& p : peers) {
    compact.append(reinterpret_cast<const char*>(&p.ip), 4);  // already network order
    compact += static_cast<char>(p.port >> 8);
    compact += static_cast<char>(p.port & 0xff);
  }
  *body += "d";
  bencode_str(body, "complete");
  bencode_int(body, c.seeders);
  bencode_str(body, "incomplete");
  bencode_int(body, c.leechers);
  bencode_str(body, "interval");
  bencode_int(body, lim.interval_s);
  bencode_str(body, "min interval");
  bencode_int(body, lim.min_interval_s);
  bencode_str(body, "peers");
  bencode_str(body, compact);
  *body += "e";
  counts->announces++;
}

/* ----------------------------------------------------------------------------
 * Scrape
 * ------------------------------------------------------------------------- */

bool bt_http_parse_scrape(const std::string& query, std::vector<BtHash>* out, std::string* why) {
  std::vector<BtQueryParam> params;
  out->clear();
  if (!bt_query_split(query, &params, why)) return false;
  std::vector<std::string> hashes;
  for (const BtQueryParam& q : params) {
    if (q.name != "info_hash") continue;
    if (q.value.size() != 20) {
      *why = "info_hash must be 20 bytes (percent-encoded), got " + std::to_string(q.value.size());
      return false;
    }
    if (hashes.size() >= kBtScrapeMaxHashes) {
      *why = "at most " + std::to_string(kBtScrapeMaxHashes) + " info_hash per scrape";
      return false;
    }
    hashes.push_back(q.value);
  }
  if (hashes.empty()) {
    *why = "scrape needs info_hash (a scrape of every swarm is not served)";
    return false;
  }
  // A bencoded dictionary's keys are sorted and unique.
  std::sort(hashes.begin(), hashes.end());
  hashes.erase(std::unique(hashes.begin(), hashes.end()), hashes.end());
  for (const std::string& h : hashes) {
    BtHash b;
    memcpy(b.b, h.data(), 20);
    out->push_back(b);
  }
  return true;
}

void bt_http_scrape(const BtStore* s, const std::string& query, std::string* body,
                    BtHttpCounts* counts) {
  std::vector<BtHash> hashes;
  std::string why;
  body->clear();
  if (!bt_http_parse_scrape(query, &hashes, &why)) return bt_http_refuse(why, body, counts);
  *body += "d";
  bencode_str(body, "files");
  *body += "d";
  for (const BtHash& h : hashes) {
    BtCounts c;
    bt_scrape(s, h, &c);
    bencode_str(body, h.b, 20);
    *body += "d";
    bencode_str(body, "complete");
    bencode_int(body, c.seeders);
    bencode_str(body, "downloaded");
    bencode_int(body, c.completed);
    bencode_str(body, "incomplete");
    bencode_int(body, c.leechers);
    *body += "e";
  }
  *body += "ee";
  counts->scrapes++;
}
