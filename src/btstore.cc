// A placeholder BitTorrent swarm store behind btstore.h: an unordered_map of
// swarms, each a map of peers by peer id, with the global caps checked and a
// whole-table expiry. It stands in until the real store is merged.
#include "btstore.h"

#include <cstring>
#include <string>
#include <unordered_map>

struct BtPeer {
  uint32_t ip;
  uint16_t port;
  bool seeder;
  int64_t seen_ms;
};

struct BtSwarm {
  std::unordered_map<std::string, BtPeer> peers;  // by peer id
  uint32_t completed = 0;
};

struct BtStore {
  BtLimits lim;
  std::unordered_map<std::string, BtSwarm> swarms;  // by info hash
  std::unordered_map<uint32_t, size_t> per_ip;
  size_t peers = 0;
};

BtStore* bt_store_new(const BtLimits& lim) {
  BtStore* s = new BtStore;
  s->lim = lim;
  return s;
}

void bt_store_free(BtStore* s) {
  delete s;
}

static void count_swarm(const BtSwarm& w, BtCounts* c) {
  *c = BtCounts();
  for (const auto& kv : w.peers)
    (kv.second.seeder ? c->seeders : c->leechers)++;
  c->completed = w.completed;
}

static void drop_peer(BtStore* s, uint32_t ip) {
  s->peers--;
  auto it = s->per_ip.find(ip);
  if (it != s->per_ip.end() && --it->second == 0) s->per_ip.erase(it);
}

int bt_announce(BtStore* s, const BtAnnounce& a, int64_t now_ms, std::vector<BtPeerAddr>* peers,
                BtCounts* counts, const char** why) {
  peers->clear();
  *counts = BtCounts();
  std::string h(reinterpret_cast<const char*>(a.info_hash.b), 20);
  std::string id(reinterpret_cast<const char*>(a.peer_id), 20);
  auto sw = s->swarms.find(h);
  if (a.event == BT_EVENT_STOPPED) {
    if (sw != s->swarms.end()) {
      auto p = sw->second.peers.find(id);
      if (p != sw->second.peers.end()) {
        drop_peer(s, p->second.ip);
        sw->second.peers.erase(p);
      }
      count_swarm(sw->second, counts);
      if (sw->second.peers.empty()) s->swarms.erase(sw);
    }
    return 0;
  }
  if (sw == s->swarms.end()) {
    if (s->swarms.size() >= s->lim.max_swarms) {
      *why = "the tracker is full (swarms)";
      return -1;
    }
  }
  BtSwarm* w = sw != s->swarms.end() ? &sw->second : nullptr;
  auto p = w != nullptr ? w->peers.find(id) : decltype(sw->second.peers.end())();
  bool known = w != nullptr && p != w->peers.end() && p->second.ip == a.ip;
  if (!known) {
    if (s->peers >= s->lim.max_peers) {
      *why = "the tracker is full (peers)";
      return -1;
    }
    auto ip = s->per_ip.find(a.ip);
    if (ip != s->per_ip.end() && ip->second >= s->lim.max_peers_per_ip) {
      *why = "too many peers from this address";
      return -1;
    }
    if (w == nullptr) w = &s->swarms[h];
    if (w->peers.count(id) != 0) drop_peer(s, w->peers[id].ip);  // the id moved address
    s->peers++;
    s->per_ip[a.ip]++;
  }
  BtPeer& me = w->peers[id];
  if (a.event == BT_EVENT_COMPLETED && known && !me.seeder) w->completed++;
  me.ip = a.ip;
  me.port = a.port;
  me.seeder = a.left == 0;
  me.seen_ms = now_ms;
  int want = a.numwant < 0 ? s->lim.numwant_default : a.numwant;
  if (want > s->lim.numwant_max) want = s->lim.numwant_max;
  for (const auto& kv : w->peers) {
    if (static_cast<int>(peers->size()) >= want) break;
    if (kv.first == id) continue;
    peers->push_back(BtPeerAddr{kv.second.ip, kv.second.port});
  }
  count_swarm(*w, counts);
  return 0;
}

void bt_scrape(const BtStore* s, const BtHash& h, BtCounts* counts) {
  *counts = BtCounts();
  auto sw = s->swarms.find(std::string(reinterpret_cast<const char*>(h.b), 20));
  if (sw != s->swarms.end()) count_swarm(sw->second, counts);
}

size_t bt_expire_step(BtStore* s, int64_t now_ms, size_t) {
  int64_t gone = now_ms - 2 * static_cast<int64_t>(s->lim.interval_s) * 1000;
  size_t removed = 0;
  for (auto sw = s->swarms.begin(); sw != s->swarms.end();) {
    for (auto p = sw->second.peers.begin(); p != sw->second.peers.end();) {
      if (p->second.seen_ms < gone) {
        drop_peer(s, p->second.ip);
        p = sw->second.peers.erase(p);
        removed++;
      } else {
        ++p;
      }
    }
    sw = sw->second.peers.empty() ? s->swarms.erase(sw) : std::next(sw);
  }
  return removed;
}

size_t bt_swarm_count(const BtStore* s) {
  return s->swarms.size();
}

size_t bt_peer_count(const BtStore* s) {
  return s->peers;
}
