// btstore: BitTorrent swarms — announces, counts, sampling, caps, expiry.
#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <set>

#include "btstore.h"

static BtHash hash_of(int n) {
  BtHash h;
  memset(h.b, 0, sizeof h.b);
  memcpy(h.b, &n, sizeof n);
  return h;
}

static BtAnnounce ann(int swarm, uint32_t ip_host, uint16_t port, uint64_t left, int event = 0,
                      int64_t peer = -1) {
  BtAnnounce a;
  memset(&a, 0, sizeof a);
  a.info_hash = hash_of(swarm);
  int64_t id = peer >= 0 ? peer : static_cast<int64_t>(ip_host) * 65536 + port;
  memcpy(a.peer_id, &id, sizeof id);
  a.ip = htonl(ip_host);
  a.port = port;
  a.left = left;
  a.event = event;
  a.numwant = -1;
  a.key = 7;
  return a;
}

static const int64_t T0 = 5000000;

TEST_CASE("btstore: a leecher gets the seeder, counts follow left", "[btstore]") {
  BtStore* s = bt_store_new(BtLimits());
  BtAnswer ans;
  const std::vector<BtPeerAddr>& peers = ans.peers;
  const BtCounts& c = ans.counts;
  REQUIRE(bt_announce(s, ann(1, 0x0A000001, 6881, 0, BT_EVENT_STARTED), T0, &ans) == 0);
  CHECK(peers.empty());  // never itself
  CHECK(c.seeders == 1);
  CHECK(c.leechers == 0);
  REQUIRE(bt_announce(s, ann(1, 0x0A000002, 6882, 100, BT_EVENT_STARTED), T0, &ans) == 0);
  REQUIRE(peers.size() == 1);
  CHECK(peers[0].ip == htonl(0x0A000001));
  CHECK(peers[0].port == 6881);
  CHECK(c.seeders == 1);
  CHECK(c.leechers == 1);
  CHECK(bt_swarm_count(s) == 1);
  CHECK(bt_peer_count(s) == 2);
  // The leecher finishes: completed counted once, it is a seeder now.
  bt_announce(s, ann(1, 0x0A000002, 6882, 0, BT_EVENT_COMPLETED), T0, &ans);
  bt_announce(s, ann(1, 0x0A000002, 6882, 0, BT_EVENT_COMPLETED), T0, &ans);
  CHECK(c.seeders == 2);
  CHECK(c.leechers == 0);
  CHECK(c.completed == 1);
  BtCounts sc;
  bt_scrape(s, hash_of(1), &sc);
  CHECK(sc.seeders == 2);
  CHECK(sc.completed == 1);
  bt_scrape(s, hash_of(99), &sc);
  CHECK(sc.seeders == 0);
  CHECK(sc.leechers == 0);
  CHECK(sc.completed == 0);
  bt_store_free(s);
}

TEST_CASE("btstore: re-announcing replaces the entry; stopped removes it", "[btstore]") {
  BtStore* s = bt_store_new(BtLimits());
  BtAnswer ans;
  const std::vector<BtPeerAddr>& peers = ans.peers;
  const BtCounts& c = ans.counts;
  for (int i = 0; i < 5; i++)
    bt_announce(s, ann(1, 0x0A000001, 6881, 10), T0 + i, &ans);
  CHECK(bt_peer_count(s) == 1);
  CHECK(c.leechers == 1);
  // The same peer id and key from another port of the same address: moved, not added.
  bt_announce(s, ann(1, 0x0A000001, 7000, 10, 0, 0x0A000001ll * 65536 + 6881), T0, &ans);
  CHECK(bt_peer_count(s) == 1);
  bt_announce(s, ann(1, 0x0A000009, 9, 10), T0, &ans);
  REQUIRE(peers.size() == 1);
  CHECK(peers[0].port == 7000);
  // Another peer id on another port: a second entry.
  bt_announce(s, ann(1, 0x0A000001, 7001, 10), T0, &ans);
  CHECK(bt_peer_count(s) == 3);
  bt_announce(s, ann(1, 0x0A000001, 7001, 10, BT_EVENT_STOPPED), T0, &ans);
  CHECK(bt_peer_count(s) == 2);
  CHECK(c.leechers == 2);
  bt_announce(s, ann(1, 0x0A000001, 7000, 10, BT_EVENT_STOPPED), T0, &ans);
  bt_announce(s, ann(1, 0x0A000009, 9, 10, BT_EVENT_STOPPED), T0, &ans);
  CHECK(bt_peer_count(s) == 0);
  CHECK(bt_swarm_count(s) == 0);  // an empty swarm is forgotten
  // Stopped for an unknown swarm creates nothing.
  bt_announce(s, ann(5, 0x0A000001, 1, 10, BT_EVENT_STOPPED), T0, &ans);
  CHECK(bt_swarm_count(s) == 0);
  bt_store_free(s);
}

TEST_CASE("btstore: numwant bounds the sample, which is spread and distinct", "[btstore]") {
  BtLimits lim;
  lim.numwant_default = 50;
  lim.numwant_max = 200;
  BtStore* s = bt_store_new(lim);
  BtAnswer ans;
  const std::vector<BtPeerAddr>& peers = ans.peers;
  const BtCounts& c = ans.counts;
  for (uint16_t p = 1; p <= 1000; p++)
    REQUIRE(bt_announce(s, ann(2, 0x0A000001, p, 1), T0, &ans) == 0);
  CHECK(c.leechers == 1000);
  BtAnnounce a = ann(2, 0x0A000001, 500, 1);
  bt_announce(s, a, T0, &ans);
  CHECK(peers.size() == 50);
  std::set<uint16_t> seen;
  for (const BtPeerAddr& p : peers) {
    CHECK(p.port != 500);
    seen.insert(p.port);
  }
  CHECK(seen.size() == 50);
  CHECK(*seen.begin() <= 20);    // from the start of the swarm
  CHECK(*seen.rbegin() >= 980);  // ... to its end
  a.numwant = 5000;
  bt_announce(s, a, T0, &ans);
  CHECK(peers.size() == 200);
  a.numwant = 0;
  bt_announce(s, a, T0, &ans);
  CHECK(peers.empty());
  // Two samples differ (the sample is random, not the first numwant).
  a.numwant = 50;
  BtAnswer a1, a2;
  const std::vector<BtPeerAddr>&p1 = a1.peers, &p2 = a2.peers;
  bt_announce(s, a, T0, &a1);
  bool differ = false;
  for (int i = 0; i < 10 && !differ; i++) {
    bt_announce(s, a, T0, &a2);
    for (size_t k = 0; k < p1.size(); k++)
      differ = differ || p1[k].port != p2[k].port;
  }
  CHECK(differ);
  bt_store_free(s);
}

TEST_CASE("btstore: caps refuse new entries with a reason, never old ones", "[btstore]") {
  BtLimits lim;
  lim.max_swarms = 2;
  lim.max_peers = 5;
  lim.max_peers_per_ip = 3;
  BtStore* s = bt_store_new(lim);
  BtAnswer ans;
  const char* const& why = ans.why;
  CHECK(bt_announce(s, ann(1, 1, 1, 1), T0, &ans) == 0);
  CHECK(bt_announce(s, ann(2, 1, 2, 1), T0, &ans) == 0);
  CHECK(bt_announce(s, ann(3, 2, 1, 1), T0, &ans) == -1);
  CHECK(std::string(why) == "the tracker is full (swarms)");
  CHECK(bt_swarm_count(s) == 2);
  CHECK(bt_announce(s, ann(1, 1, 3, 1), T0, &ans) == 0);
  CHECK(bt_announce(s, ann(1, 1, 4, 1), T0, &ans) == -1);
  CHECK(std::string(why) == "too many peers from this address");
  CHECK(bt_announce(s, ann(1, 1, 1, 1), T0 + 1000, &ans) == 0);  // known: fine
  CHECK(bt_announce(s, ann(1, 2, 1, 1), T0, &ans) == 0);
  CHECK(bt_announce(s, ann(1, 2, 2, 1), T0, &ans) == 0);
  CHECK(bt_announce(s, ann(1, 3, 1, 1), T0, &ans) == -1);
  CHECK(std::string(why) == "the tracker is full (peers)");
  CHECK(bt_peer_count(s) == 5);
  // Room again once one leaves.
  bt_announce(s, ann(1, 2, 2, 1, BT_EVENT_STOPPED), T0, &ans);
  CHECK(bt_announce(s, ann(1, 3, 1, 1), T0, &ans) == 0);
  bt_store_free(s);
}

TEST_CASE("btstore: expiry after two intervals, in bounded steps", "[btstore]") {
  BtLimits lim;
  lim.interval_s = 100;
  BtStore* s = bt_store_new(lim);
  BtAnswer ans;
  const BtCounts& c = ans.counts;
  for (int sw = 0; sw < 10; sw++)
    for (uint16_t p = 1; p <= 100; p++)
      bt_announce(s, ann(sw, 0x0A000001, p, p % 2), T0, &ans);
  // Half of swarm 0's peers announce again later.
  for (uint16_t p = 1; p <= 50; p++)
    bt_announce(s, ann(0, 0x0A000001, p, p % 2), T0 + 150000, &ans);
  CHECK(bt_peer_count(s) == 1000);
  // Not yet: 2 intervals have not passed.
  size_t removed = 0;
  for (int i = 0; i < 100; i++)
    removed += bt_expire_step(s, T0 + 199000, 64);
  CHECK(removed == 0);
  // Each step visits at most max_slots entries.
  // Gone once two intervals have passed, give or take the entries' 4-second clock.
  int64_t later = T0 + 205000;
  size_t step = bt_expire_step(s, later, 64);
  CHECK(step <= 64);
  removed = step;
  for (int i = 0; i < 100; i++)
    removed += bt_expire_step(s, later, 64);
  CHECK(removed == 950);
  CHECK(bt_peer_count(s) == 50);
  CHECK(bt_swarm_count(s) == 1);
  bt_scrape(s, hash_of(0), &ans.counts);
  CHECK(c.seeders + c.leechers == 50);
  CHECK(c.seeders == 25);  // counts kept right as entries go
  bt_store_free(s);
}

TEST_CASE("btstore: many swarms come and go; each is found by its hash, counts stay right",
          "[btstore]") {
  BtStore* s = bt_store_new(BtLimits());
  BtAnswer ans;
  const BtCounts& c = ans.counts;
  for (int round = 0; round < 3; round++) {
    int refused = 0;
    for (int n = 0; n < 5000; n++)
      refused += bt_announce(s, ann(n, 0x0A000001, 6881, n % 2), T0, &ans) != 0;
    CHECK(refused == 0);
    CHECK(bt_swarm_count(s) == 5000);
    // The odd ones stop: their swarms go (nothing completed), the even ones stay.
    for (int n = 1; n < 5000; n += 2)
      REQUIRE(bt_announce(s, ann(n, 0x0A000001, 6881, 1, BT_EVENT_STOPPED), T0, &ans) == 0);
    CHECK(bt_swarm_count(s) == 2500);
    CHECK(bt_peer_count(s) == 2500);
    int wrong = 0;
    for (int n = 0; n < 5000; n++) {
      bt_scrape(s, hash_of(n), &ans.counts);
      wrong += c.seeders != (n % 2 == 0 ? 1u : 0u) || c.leechers != 0u;
    }
    CHECK(wrong == 0);
    bt_scrape(s, hash_of(999999), &ans.counts);  // never announced
    CHECK(c.seeders + c.leechers + c.completed == 0u);
  }
  bt_store_free(s);
}

TEST_CASE("btstore: 'completed' counts a download that ends, not any announce that says so",
          "[btstore]") {
  BtStore* s = bt_store_new(BtLimits());
  BtAnswer ans;
  const BtCounts& c = ans.counts;
  for (int i = 0; i < 5; i++)  // a leecher claiming completed with bytes left
    bt_announce(s, ann(1, 0x0A000001, 6881, 100, BT_EVENT_COMPLETED), T0, &ans);
  CHECK(c.completed == 0u);
  CHECK(c.leechers == 1u);
  bt_announce(s, ann(1, 0x0A000001, 6881, 0, BT_EVENT_COMPLETED), T0, &ans);
  bt_announce(s, ann(1, 0x0A000001, 6881, 0, BT_EVENT_COMPLETED), T0, &ans);
  CHECK(c.completed == 1u);
  CHECK(c.seeders == 1u);
  bt_store_free(s);
}

TEST_CASE("btstore: info hashes that differ only in their last bytes are all found", "[btstore]") {
  BtStore* s = bt_store_new(BtLimits());
  BtAnswer ans;
  const BtCounts& c = ans.counts;
  BtAnnounce a = ann(0, 0x0A000001, 6881, 0);
  int refused = 0, wrong = 0;
  for (uint32_t n = 0; n < 4000; n++) {
    memcpy(a.info_hash.b + 16, &n, 4);
    refused += bt_announce(s, a, T0, &ans) != 0;
  }
  for (uint32_t n = 0; n < 4000; n++) {
    memcpy(a.info_hash.b + 16, &n, 4);
    bt_scrape(s, a.info_hash, &ans.counts);
    wrong += c.seeders != 1u;
  }
  CHECK(refused == 0);
  CHECK(wrong == 0);
  CHECK(bt_swarm_count(s) == 4000);
  bt_store_free(s);
}
