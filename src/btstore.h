// BitTorrent swarms: info hash -> peers (IPv4), pure data (time passed in), bounded.
// Used by the tracker's BEP 15 path (tracker.cc) and its HTTP announce; no I/O.
// Each swarm keeps its peers in one vector of 12-byte entries sorted by
// address, so an announce finds its entry by binary search, a sample of
// numwant peers costs numwant reads, and expiry walks entries a bounded number
// at a time.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>
struct BtHash {
  uint8_t b[20];
};
enum BtEvent {
  BT_EVENT_NONE = 0,
  BT_EVENT_COMPLETED = 1,
  BT_EVENT_STARTED = 2,
  BT_EVENT_STOPPED = 3
};  // BEP 15 numbers
struct BtAnnounce {
  BtHash info_hash;
  uint8_t peer_id[20];
  uint32_t ip;      // IPv4, network byte order (the sender's address; BEP 15's ip field is ignored)
  uint16_t port;    // host byte order
  uint64_t left;    // 0: a seeder
  int event;        // BtEvent
  int32_t numwant;  // -1: default
  uint32_t key;
};
struct BtPeerAddr {
  uint32_t ip;
  uint16_t port;
};  // ip network order, port host order
struct BtCounts {
  uint32_t seeders = 0, leechers = 0, completed = 0;
};
struct BtLimits {
  size_t max_swarms = 1 << 20;  // global cap on info hashes
  size_t max_peers = 1 << 22;   // global cap on (info hash, peer) entries
  // per address, over all swarms; at least 65536 (many clients share one address behind NAT)
  size_t max_peers_per_ip = 1 << 17;
  int interval_s = 1800;  // announce interval given to clients; a peer is gone after 2 intervals
  int min_interval_s = 900;
  int numwant_default = 50, numwant_max = 200;
};
struct BtStore;
BtStore* bt_store_new(const BtLimits& lim);
void bt_store_free(BtStore* s);
// What an announce gets back (reused between announces, it keeps its buffer).
struct BtAnswer {
  std::vector<BtPeerAddr> peers;  // up to numwant of the swarm, never the announcer
  BtCounts counts;                // the swarm's
  const char* why = nullptr;      // why it was refused, when it was
};
// Records the announce (stopped: removes the peer) and fills out->peers (a
// random sample) and out->counts. Returns 0, or -1 with out->why ("the tracker
// is full", ...) when a cap refuses a new entry.
int bt_announce(BtStore* s, const BtAnnounce& a, int64_t now_ms, BtAnswer* out);
// Counts of one swarm (zeros when unknown).
void bt_scrape(const BtStore* s, const BtHash& h, BtCounts* counts);
// Expires peers silent for 2 intervals, visiting at most max_slots entries per call (the
// tracker calls it from its sweep). Returns entries removed.
size_t bt_expire_step(BtStore* s, int64_t now_ms, size_t max_slots);
size_t bt_swarm_count(const BtStore* s);
size_t bt_peer_count(const BtStore* s);
