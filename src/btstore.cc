// BitTorrent swarms (btstore.h). A swarm is a slot in a vector (reused through
// a free list) found by its info hash in a hash map keyed with a random seed,
// so chosen info hashes cannot pile into one bucket. A swarm's peers are
// 12-byte entries sorted by (ip, port): an announce finds its own by binary
// search, and the entries of one address are side by side, so a client that
// comes back from another port is found by its peer id and key among them.
#include "btstore.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "limits.h"

namespace {

// The clock in an entry: 4-second units, 16 bits, compared modulo 2^16 (about
// 3 days; two intervals are at most 2 days, and the expiry passes over every
// entry every few seconds).
constexpr int64_t kSeenUnitMs = 4000;

struct BtPeer {
  uint32_t ip;    // network order
  uint16_t port;  // host order
  uint16_t seen;  // the store's clock (kSeenUnitMs units) at the last announce
  uint32_t tag;   // bit 0: a seeder; the rest a hash of the peer id and key, which
                  // recognises the same client from another port
};
static_assert(sizeof(BtPeer) == 12, "one peer entry is 12 bytes");

inline bool is_seeder(const BtPeer& p) {
  return (p.tag & 1) != 0;
}

struct Swarm {
  BtHash hash;
  std::vector<BtPeer> peers;  // sorted by peer_order
  uint32_t seeders = 0;
  uint32_t completed = 0;
  bool used = false;
};

inline uint64_t peer_order(uint32_t ip, uint16_t port) {
  return static_cast<uint64_t>(ip) << 16 | port;
}

// Every byte of the hash, mixed with two secret keys (random per process): a
// sender who picks info hashes cannot tell where they land in the index.
struct HashKey {
  uint64_t k0, k1;
  size_t operator()(const BtHash& h) const {
    uint64_t a, b;
    uint32_t c;
    memcpy(&a, h.b, 8);
    memcpy(&b, h.b + 8, 8);
    memcpy(&c, h.b + 16, 4);
    uint64_t x = (a ^ k0) * 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 31) ^ b ^ k1) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 29) ^ c) * 0x94D049BB133111EBull;
    return static_cast<size_t>(x ^ (x >> 32));
  }
};

}  // namespace

struct BtStore {
  BtLimits lim;
  std::vector<Swarm> swarms;
  std::vector<uint32_t> free_swarms;
  // Info hash -> swarm slot: open addressing (linear probing) over slot
  // numbers + 1, the hash itself kept in the swarm. 0: empty; kGone: a
  // removed entry that probes pass over. A power of two long, at most
  // 3/4 used (removed entries counted until the next rebuild).
  std::vector<uint32_t> index;
  HashKey key;
  size_t index_used = 0;                          // live entries
  size_t index_gone = 0;                          // removed entries still in the table
  std::unordered_map<uint32_t, uint32_t> per_ip;  // entries by address, over all swarms
  size_t peers = 0;
  uint64_t rng = 0;
  size_t cursor_swarm = 0;  // where the next expiry step starts
  size_t cursor_peer = 0;
};

static uint64_t next_random(BtStore* s) {  // xorshift64*
  s->rng ^= s->rng >> 12;
  s->rng ^= s->rng << 25;
  s->rng ^= s->rng >> 27;
  return s->rng * 0x2545F4914F6CDD1Dull;
}

BtStore* bt_store_new(const BtLimits& lim) {
  uint64_t seed[3] = {0x243F6A8885A308D3ull, 0x13198A2E03707344ull, 0xA4093822299F31D0ull};
  RAND_bytes(reinterpret_cast<unsigned char*>(seed), sizeof seed);  // else the constants
  BtStore* s = new BtStore{
      lim,         {}, {}, std::vector<uint32_t>(16, 0), HashKey{seed[0], seed[2]}, 0, 0, {}, 0,
      seed[1] | 1, 0,  0};
  if (s->lim.interval_s < 1) s->lim.interval_s = 1;
  if (s->lim.interval_s > 86400) s->lim.interval_s = 86400;  // two fit in an entry's clock
  if (s->lim.numwant_max < 0) s->lim.numwant_max = 0;
  return s;
}

void bt_store_free(BtStore* s) {
  delete s;
}

static void ip_add(BtStore* s, uint32_t ip) {
  s->per_ip[ip]++;
  s->peers++;
}

static void ip_remove(BtStore* s, uint32_t ip) {
  auto it = s->per_ip.find(ip);
  if (it != s->per_ip.end() && --it->second == 0) s->per_ip.erase(it);
  s->peers--;
}

constexpr uint32_t kGone = UINT32_MAX;

// The table position holding h, or of the empty entry where it would go.
static size_t index_probe(const BtStore* s, const BtHash& h) {
  size_t mask = s->index.size() - 1;
  size_t i = s->key(h) & mask;
  size_t first_gone = SIZE_MAX;
  while (true) {
    uint32_t e = s->index[i];
    if (e == 0) return first_gone != SIZE_MAX ? first_gone : i;
    if (e == kGone) {
      if (first_gone == SIZE_MAX) first_gone = i;
    } else if (memcmp(s->swarms[e - 1].hash.b, h.b, sizeof h.b) == 0) {
      return i;
    }
    i = (i + 1) & mask;
  }
}

static uint32_t index_find(const BtStore* s, const BtHash& h) {
  uint32_t e = s->index[index_probe(s, h)];
  return e == 0 || e == kGone ? UINT32_MAX : e - 1;
}

static void index_rebuild(BtStore* s, size_t size) {
  std::vector<uint32_t> old;
  old.swap(s->index);
  s->index.assign(size, 0);
  s->index_gone = 0;
  for (uint32_t e : old) {
    if (e != 0 && e != kGone) s->index[index_probe(s, s->swarms[e - 1].hash)] = e;
  }
}

static void index_insert(BtStore* s, uint32_t slot) {
  if ((s->index_used + s->index_gone + 1) * 4 > s->index.size() * 3) {
    // At most half full after a rebuild (which also drops the removed entries).
    size_t size = s->index.size();
    while ((s->index_used + 1) * 2 > size)
      size *= 2;
    index_rebuild(s, size);
  }
  size_t i = index_probe(s, s->swarms[slot].hash);
  if (s->index[i] == kGone) s->index_gone--;
  s->index[i] = slot + 1;
  s->index_used++;
}

static void index_erase(BtStore* s, const BtHash& h) {
  size_t i = index_probe(s, h);
  if (s->index[i] == 0 || s->index[i] == kGone) return;
  s->index[i] = kGone;
  s->index_used--;
  s->index_gone++;
}

// Inserts p at v[at], growing the vector by about a quarter when it is full
// rather than doubling it: most swarms are small, and their slack is memory.
static void peer_insert(std::vector<BtPeer>* v, size_t at, const BtPeer& p) {
  if (v->size() == v->capacity()) v->reserve(v->size() + v->size() / 4 + 1);
  v->insert(v->begin() + static_cast<ptrdiff_t>(at), p);
}

// After entries leave: a vector down to a quarter of its capacity gives the
// rest back, so that memory follows the entries the caps count.
static void peers_shrink(std::vector<BtPeer>* v) {
  if (v->capacity() > 16 && v->size() < v->capacity() / 4) v->shrink_to_fit();
}

static void swarm_release(BtStore* s, uint32_t slot) {
  Swarm& w = s->swarms[slot];
  index_erase(s, w.hash);
  w.used = false;
  std::vector<BtPeer>().swap(w.peers);
  w.seeders = w.completed = 0;
  s->free_swarms.push_back(slot);
}

static size_t lower(const std::vector<BtPeer>& v, uint64_t key) {
  size_t lo = 0, hi = v.size();
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (peer_order(v[mid].ip, v[mid].port) < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static uint32_t peer_tag(const BtAnnounce& a) {
  uint32_t h = 2166136261u ^ a.key;  // FNV-1a over the peer id, started from the key
  for (uint8_t c : a.peer_id)
    h = (h ^ c) * 16777619u;
  return h & ~1u;
}

static void fill_counts(const Swarm& w, BtCounts* c) {
  c->seeders = w.seeders;
  c->leechers = static_cast<uint32_t>(w.peers.size()) - w.seeders;
  c->completed = w.completed;
}

// Up to want entries other than v[self] (self: v.size() when absent), one from
// each of want equal stretches of the vector, so the sample is spread over the
// swarm and costs want reads.
static void sample(BtStore* s, const std::vector<BtPeer>& v, size_t self, size_t want,
                   std::vector<BtPeerAddr>* out) {
  size_t n = v.size() - (self < v.size() ? 1 : 0);
  if (want > n) want = n;
  for (size_t i = 0; i < want; i++) {
    size_t lo = i * n / want, hi = (i + 1) * n / want;
    size_t k = lo + (hi > lo + 1 ? next_random(s) % (hi - lo) : 0);
    if (k >= self) k++;
    out->push_back(BtPeerAddr{v[k].ip, v[k].port});
  }
}

// Whether one more entry from ip fits under the caps. Returns 0, or -1 with *why.
static int room_for_peer(const BtStore* s, uint32_t ip, const char** why) {
  if (s->peers >= s->lim.max_peers) {
    *why = "the tracker is full (peers)";
    return -1;
  }
  auto it = s->per_ip.find(ip);
  if (it != s->per_ip.end() && it->second >= s->lim.max_peers_per_ip) {
    *why = "too many peers from this address";
    return -1;
  }
  return 0;
}

// A new swarm for h, in a free slot or a new one. Returns its slot, or
// UINT32_MAX with *why when a cap refuses it (or its first peer from ip).
static uint32_t swarm_new(BtStore* s, const BtHash& h, uint32_t ip, const char** why) {
  if (s->index_used >= s->lim.max_swarms) {
    *why = "the tracker is full (swarms)";
    return UINT32_MAX;
  }
  if (room_for_peer(s, ip, why) != 0) return UINT32_MAX;
  uint32_t slot;
  if (!s->free_swarms.empty()) {
    slot = s->free_swarms.back();
    s->free_swarms.pop_back();
  } else {
    slot = static_cast<uint32_t>(s->swarms.size());
    if (s->swarms.size() == s->swarms.capacity())  // a quarter more, as peer_insert
      s->swarms.reserve(s->swarms.size() + s->swarms.size() / 4 + 16);
    s->swarms.emplace_back();
  }
  Swarm& w = s->swarms[slot];
  w.hash = h;
  w.used = true;
  index_insert(s, slot);
  return slot;
}

// The same client from another port of its address: its old entry goes (and,
// unless it is stopping, comes back at a.port keeping what it was). Only the
// first kBtSameAddrScan entries of the address are looked at, so that a
// crowded address (NAT, a load generator) costs no more per announce; a client
// missed there leaves an entry that expires. Returns whether the client now
// has an entry, at *at.
static bool peer_moved_port(BtStore* s, Swarm& w, const BtAnnounce& a, uint16_t now_u, size_t* at) {
  std::vector<BtPeer>& v = w.peers;
  uint32_t tag = peer_tag(a);
  bool stop = a.event == BT_EVENT_STOPPED;
  size_t first = lower(v, peer_order(a.ip, 0));
  size_t last = std::min(v.size(), first + kBtSameAddrScan);
  for (size_t i = first; i < last && v[i].ip == a.ip; i++) {
    if ((v[i].tag & ~1u) != tag) continue;
    bool was_seeder = is_seeder(v[i]);
    if (was_seeder) w.seeders--;
    v.erase(v.begin() + static_cast<ptrdiff_t>(i));
    ip_remove(s, a.ip);
    if (stop) return false;
    *at = lower(v, peer_order(a.ip, a.port));
    peer_insert(&v, *at, BtPeer{a.ip, a.port, now_u, tag | (was_seeder ? 1u : 0u)});
    if (was_seeder) w.seeders++;
    ip_add(s, a.ip);
    return true;
  }
  return false;
}

// A stopped announce: the entry at `at` (when found) goes, and the swarm with
// it when nothing is left of it.
static void announce_stopped(BtStore* s, uint32_t slot, size_t at, bool found, BtCounts* counts) {
  Swarm& w = s->swarms[slot];
  std::vector<BtPeer>& v = w.peers;
  if (found) {
    if (is_seeder(v[at])) w.seeders--;
    uint32_t ip = v[at].ip;
    v.erase(v.begin() + static_cast<ptrdiff_t>(at));
    ip_remove(s, ip);
    peers_shrink(&v);
  }
  if (v.empty() && w.completed == 0) {
    swarm_release(s, slot);
    return;
  }
  fill_counts(w, counts);
}

// The announcer's entry p is seen now, as a seeder or not. A download counts
// as completed once per entry: on the announce that turns a leecher (or a
// newcomer) into a seeder with event completed.
static void peer_seen(Swarm& w, BtPeer& p, const BtAnnounce& a, uint16_t now_u) {
  bool seeder = a.left == 0;
  if (a.event == BT_EVENT_COMPLETED && seeder && !is_seeder(p)) w.completed++;
  if (seeder != is_seeder(p)) {
    if (seeder)
      w.seeders++;
    else
      w.seeders--;
  }
  p.seen = now_u;
  p.tag = peer_tag(a) | (seeder ? 1u : 0u);
}

int bt_announce(BtStore* s, const BtAnnounce& a, int64_t now_ms, BtAnswer* out) {
  std::vector<BtPeerAddr>* peers = &out->peers;
  BtCounts* counts = &out->counts;
  const char** why = &out->why;
  peers->clear();
  *counts = BtCounts();
  *why = nullptr;
  uint16_t now_u = static_cast<uint16_t>(now_ms / kSeenUnitMs);
  bool stop = a.event == BT_EVENT_STOPPED;
  uint32_t slot = index_find(s, a.info_hash);
  if (slot == UINT32_MAX && stop) return 0;
  if (slot == UINT32_MAX && (slot = swarm_new(s, a.info_hash, a.ip, why)) == UINT32_MAX) return -1;
  Swarm& w = s->swarms[slot];
  std::vector<BtPeer>& v = w.peers;
  size_t at = lower(v, peer_order(a.ip, a.port));
  bool found = at < v.size() && v[at].ip == a.ip && v[at].port == a.port;
  if (!found) found = peer_moved_port(s, w, a, now_u, &at);
  if (stop) {
    announce_stopped(s, slot, at, found, counts);
    return 0;
  }
  if (!found) {
    if (room_for_peer(s, a.ip, why) != 0) {
      if (v.empty() && w.completed == 0) swarm_release(s, slot);
      return -1;
    }
    peer_insert(&v, at, BtPeer{a.ip, a.port, now_u, peer_tag(a)});
    ip_add(s, a.ip);
  }
  peer_seen(w, v[at], a, now_u);
  size_t want =
      a.numwant < 0 ? static_cast<size_t>(s->lim.numwant_default) : static_cast<size_t>(a.numwant);
  if (want > static_cast<size_t>(s->lim.numwant_max))
    want = static_cast<size_t>(s->lim.numwant_max);
  sample(s, v, at, want, peers);
  fill_counts(w, counts);
  return 0;
}

void bt_scrape(const BtStore* s, const BtHash& h, BtCounts* counts) {
  *counts = BtCounts();
  uint32_t slot = index_find(s, h);
  if (slot != UINT32_MAX) fill_counts(s->swarms[slot], counts);
}

size_t bt_expire_step(BtStore* s, int64_t now_ms, size_t max_slots) {
  uint16_t now_u = static_cast<uint16_t>(now_ms / kSeenUnitMs);
  // Two intervals, rounded up to whole units.
  uint32_t ttl = static_cast<uint32_t>(
      (2 * static_cast<int64_t>(s->lim.interval_s) * 1000 + kSeenUnitMs - 1) / kSeenUnitMs);
  size_t removed = 0, visited = 0;
  while (visited < max_slots) {
    if (s->cursor_swarm >= s->swarms.size()) {  // end of a pass
      s->cursor_swarm = 0;
      s->cursor_peer = 0;
      break;
    }
    Swarm& w = s->swarms[s->cursor_swarm];
    if (!w.used) {
      s->cursor_swarm++;
      s->cursor_peer = 0;
      visited++;
      continue;
    }
    std::vector<BtPeer>& v = w.peers;
    size_t from = std::min(s->cursor_peer, v.size());
    size_t end = std::min(v.size(), from + (max_slots - visited));
    size_t keep = from;
    for (size_t i = from; i < end; i++) {
      if (static_cast<uint16_t>(now_u - v[i].seen) > ttl) {
        if (is_seeder(v[i])) w.seeders--;
        ip_remove(s, v[i].ip);
        removed++;
      } else {
        v[keep++] = v[i];
      }
    }
    v.erase(v.begin() + static_cast<ptrdiff_t>(keep), v.begin() + static_cast<ptrdiff_t>(end));
    peers_shrink(&v);
    visited += end - from + (end == from ? 1 : 0);
    s->cursor_peer = keep;
    if (keep >= v.size()) {
      if (v.empty()) swarm_release(s, static_cast<uint32_t>(s->cursor_swarm));
      s->cursor_swarm++;
      s->cursor_peer = 0;
    }
  }
  return removed;
}

size_t bt_swarm_count(const BtStore* s) {
  return s->index_used;
}

size_t bt_peer_count(const BtStore* s) {
  return s->peers;
}
