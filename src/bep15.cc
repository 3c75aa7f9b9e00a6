// BEP 15 datagrams (bep15.h).
#include "bep15.h"

#include <cstring>

static uint32_t get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

static uint64_t get64(const uint8_t* p) {
  return static_cast<uint64_t>(get32(p)) << 32 | get32(p + 4);
}

static void put32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out->append(b, 4);
}

static void put64(std::string* out, uint64_t v) {
  put32(out, static_cast<uint32_t>(v >> 32));
  put32(out, static_cast<uint32_t>(v));
}

static void put16(std::string* out, uint16_t v) {
  char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(b, 2);
}

bool bep15_is_request(const uint8_t* d, size_t len) {
  if (len < 16 || d[0] == '{') return false;
  uint32_t action = get32(d + 8);
  if (action == BEP15_CONNECT) return get64(d) == kBep15Magic;
  return action == BEP15_ANNOUNCE || action == BEP15_SCRAPE;
}

// The announce's fixed layout (BEP 15), read top to bottom.
static int decode_announce(const uint8_t* d, size_t len, Bep15Request* r, const char** why) {
  if (len < kBep15AnnounceLen) {
    *why = "announce shorter than 98 bytes";
    return -1;
  }
  // Bytes past 98 are BEP 41 options: not used, not an error.
  BtAnnounce& a = r->a;
  memcpy(a.info_hash.b, d + 16, 20);
  memcpy(a.peer_id, d + 36, 20);
  r->downloaded = get64(d + 56);
  a.left = get64(d + 64);
  r->uploaded = get64(d + 72);
  uint32_t event = get32(d + 80);
  if (event > BT_EVENT_STOPPED) {
    *why = "unknown event";
    return -1;
  }
  a.event = static_cast<int>(event);
  memcpy(&r->ip_field, d + 84, 4);
  a.ip = 0;
  a.key = get32(d + 88);
  a.numwant = static_cast<int32_t>(get32(d + 92));
  a.port = static_cast<uint16_t>(d[96] << 8 | d[97]);
  r->action = BEP15_ANNOUNCE;
  return 0;
}

// A scrape: 20-byte info hashes after the header, kBep15MaxScrape at most.
static int decode_scrape(const uint8_t* d, size_t len, Bep15Request* r, const char** why) {
  size_t body = len - 16;
  if (body % 20 != 0) {
    *why = "scrape length is not 16 + 20 n";
    return -1;
  }
  if (body / 20 > kBep15MaxScrape) {
    *why = "scrape of more than 74 info hashes";
    return -1;
  }
  r->nhashes = body / 20;
  for (size_t i = 0; i < r->nhashes; i++)
    memcpy(r->hashes[i].b, d + 16 + 20 * i, 20);
  r->action = BEP15_SCRAPE;
  return 0;
}

int bep15_decode_request(const uint8_t* d, size_t len, Bep15Request* r, const char** why) {
  r->action = -1;
  r->nhashes = 0;
  if (len < 16) {
    *why = "shorter than 16 bytes";
    return -1;
  }
  r->connection_id = get64(d);
  r->transaction_id = get32(d + 12);
  uint32_t action = get32(d + 8);
  switch (action) {
    case BEP15_CONNECT:
      if (r->connection_id != kBep15Magic) {
        *why = "wrong protocol id";
        return -1;
      }
      r->action = BEP15_CONNECT;
      return 0;
    case BEP15_ANNOUNCE:
      return decode_announce(d, len, r, why);
    case BEP15_SCRAPE:
      return decode_scrape(d, len, r, why);
    default:
      *why = "unknown action";
      return -1;
  }
}

void bep15_encode_connect(uint32_t tid, uint64_t connection_id, std::string* out) {
  out->clear();
  put32(out, BEP15_CONNECT);
  put32(out, tid);
  put64(out, connection_id);
}

void bep15_encode_announce(uint32_t tid, uint32_t interval, const BtCounts& c,
                           const std::vector<BtPeerAddr>& peers, std::string* out) {
  out->clear();
  put32(out, BEP15_ANNOUNCE);
  put32(out, tid);
  put32(out, interval);
  put32(out, c.leechers);
  put32(out, c.seeders);
  for (const BtPeerAddr& p : peers) {
    out->append(reinterpret_cast<const char*>(&p.ip), 4);  // already in network order
    put16(out, p.port);
  }
}

void bep15_encode_scrape(uint32_t tid, const BtCounts* counts, size_t n, std::string* out) {
  out->clear();
  put32(out, BEP15_SCRAPE);
  put32(out, tid);
  for (size_t i = 0; i < n; i++) {
    put32(out, counts[i].seeders);
    put32(out, counts[i].completed);
    put32(out, counts[i].leechers);
  }
}

void bep15_encode_error(uint32_t tid, const char* message, size_t max_len, std::string* out) {
  out->clear();
  put32(out, BEP15_ERROR);
  put32(out, tid);
  size_t n = strlen(message);
  if (max_len < 8) max_len = 8;
  if (n > max_len - 8) n = max_len - 8;
  out->append(message, n);
}

void bep15_encode_connect_request(uint32_t tid, std::string* out) {
  out->clear();
  put64(out, kBep15Magic);
  put32(out, BEP15_CONNECT);
  put32(out, tid);
}

void bep15_encode_announce_request(uint64_t connection_id, uint32_t tid, const BtAnnounce& a,
                                   std::string* out) {
  out->clear();
  put64(out, connection_id);
  put32(out, BEP15_ANNOUNCE);
  put32(out, tid);
  out->append(reinterpret_cast<const char*>(a.info_hash.b), 20);
  out->append(reinterpret_cast<const char*>(a.peer_id), 20);
  put64(out, 0);  // downloaded
  put64(out, a.left);
  put64(out, 0);  // uploaded
  put32(out, static_cast<uint32_t>(a.event));
  out->append(reinterpret_cast<const char*>(&a.ip), 4);
  put32(out, a.key);
  put32(out, static_cast<uint32_t>(a.numwant));
  put16(out, a.port);
}

void bep15_encode_scrape_request(uint64_t connection_id, uint32_t tid, const BtHash* hashes,
                                 size_t n, std::string* out) {
  out->clear();
  put64(out, connection_id);
  put32(out, BEP15_SCRAPE);
  put32(out, tid);
  for (size_t i = 0; i < n; i++)
    out->append(reinterpret_cast<const char*>(hashes[i].b), 20);
}

int bep15_decode_answer(const uint8_t* d, size_t len, Bep15Answer* a, const char** why) {
  a->peers.clear();
  a->files.clear();
  a->message.clear();
  if (len < 8) {
    *why = "shorter than 8 bytes";
    return -1;
  }
  a->action = static_cast<int>(get32(d));
  a->transaction_id = get32(d + 4);
  switch (a->action) {
    case BEP15_CONNECT:
      if (len != 16) {
        *why = "connect answer is not 16 bytes";
        return -1;
      }
      a->connection_id = get64(d + 8);
      return 0;
    case BEP15_ANNOUNCE:
      if (len < 20 || (len - 20) % 6 != 0) {
        *why = "announce answer is not 20 + 6 n bytes";
        return -1;
      }
      a->interval = get32(d + 8);
      a->leechers = get32(d + 12);
      a->seeders = get32(d + 16);
      for (size_t at = 20; at < len; at += 6) {
        BtPeerAddr p;
        memcpy(&p.ip, d + at, 4);
        p.port = static_cast<uint16_t>(d[at + 4] << 8 | d[at + 5]);
        a->peers.push_back(p);
      }
      return 0;
    case BEP15_SCRAPE:
      if ((len - 8) % 12 != 0) {
        *why = "scrape answer is not 8 + 12 n bytes";
        return -1;
      }
      for (size_t at = 8; at < len; at += 12) {
        BtCounts c;
        c.seeders = get32(d + at);
        c.completed = get32(d + at + 4);
        c.leechers = get32(d + at + 8);
        a->files.push_back(c);
      }
      return 0;
    case BEP15_ERROR:
      a->message.assign(reinterpret_cast<const char*>(d + 8), len - 8);
      return 0;
    default:
      *why = "unknown action";
      return -1;
  }
}
