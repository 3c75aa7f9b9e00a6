// libFuzzer target: the tracker's BitTorrent path (BEP 15 datagrams through
// tracker_handle_from, as the UDP callback hands them over), and the BEP 15
// decoders on their own.
//
// One Tracker lives across inputs (recreated every kRecreateEvery) with small
// swarm caps, so announces fill swarms, hit the caps, and expire as the clock
// moves on. The first input byte picks the sender (one of three addresses and
// ports); the rest is the datagram. Eight 0xff bytes at its start are replaced
// by the connection id the tracker gave that sender, so announces and scrapes
// get past the id check.
//
// Invariants checked on every input:
//   - a datagram the tracker takes for BEP 15 gets one answer that the BEP 15
//     answer reader reads, with the request's transaction id;
//   - an error answer is no longer than the request; any other answer to an
//     announce or scrape goes only to a sender with a valid connection id;
//   - an announce answer lists at most numwant_max peers, none of them the
//     announcer, and a scrape answer has one row per info hash asked for;
//   - the store stays within its caps, and its counts add up;
//   - a datagram not taken for BEP 15 leaves the BitTorrent counters alone.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bep15.h"
#include "btstore.h"
#include "tracker.h"

static constexpr int kRecreateEvery = 2000;
static constexpr int kExpireEvery = 16;

static Tracker* g_tracker = nullptr;
static int g_inputs = 0;
static int64_t g_now = 1000000;
static BtLimits g_lim;

static Tracker* tracker() {
  if (g_tracker != nullptr && g_inputs >= kRecreateEvery) {
    delete g_tracker;
    g_tracker = nullptr;
  }
  if (g_tracker == nullptr) {
    g_tracker = new Tracker;
    g_tracker->quiet = true;
    tracker_init_key(g_tracker);
    g_lim.max_swarms = 32;
    g_lim.max_peers = 128;
    g_lim.max_peers_per_ip = 96;
    g_lim.interval_s = 60;
    g_lim.numwant_max = 200;
    g_tracker->opt.bt_interval_s = g_lim.interval_s;
    bt_store_free(g_tracker->bt);
    g_tracker->bt = bt_store_new(g_lim);
    g_inputs = 0;
  }
  return g_tracker;
}

[[noreturn]] static void fail(const char* what, const std::string& req, const std::string& ans) {
  fprintf(stderr, "fuzz_bep15: invariant broken: %s\n", what);
  fprintf(stderr, "request (%zu bytes), answer (%zu bytes)\n", req.size(), ans.size());
  for (size_t i = 0; i < req.size() && i < 256; i++)
    fprintf(stderr, "%02x", static_cast<uint8_t>(req[i]));
  fprintf(stderr, "\n");
  abort();
}

static uint32_t be32(const std::string& s, size_t at) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(s.data()) + at;
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

static uint64_t be64(const std::string& s, size_t at) {
  return static_cast<uint64_t>(be32(s, at)) << 32 | be32(s, at + 4);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  if (len == 0 || len > kMaxDatagram) return 0;
  // The decoders alone, on the raw input: they only read within len.
  Bep15Request r;
  const char* why = nullptr;
  bep15_decode_request(data, len, &r, &why);
  Bep15Answer pa;
  bep15_decode_answer(data, len, &pa, &why);

  Tracker* t = tracker();
  g_inputs++;
  static const uint32_t kIps[] = {0x7f000001, 0x7f000001, 0x0a000003};
  static const uint16_t kPorts[] = {40000, 40001, 40000};
  int who = data[0] % 3;
  struct sockaddr_in from = {};
  from.sin_family = AF_INET;
  from.sin_addr.s_addr = htonl(kIps[who]);
  from.sin_port = htons(kPorts[who]);
  g_now += static_cast<int64_t>((len * 7919) % 20000);
  t->now = g_now;
  if (g_inputs % kExpireEvery == 0) tracker_bt_sweep(t);

  std::string req(reinterpret_cast<const char*>(data) + 1, len - 1);
  uint64_t valid = tracker_bt_connection_id(t, from.sin_addr.s_addr, kPorts[who], t->now);
  if (req.size() >= 8 && req.compare(0, 8, std::string(8, '\xff')) == 0) {
    for (int i = 0; i < 8; i++)
      req[i] = static_cast<char>(valid >> (56 - 8 * i));
  }
  const uint8_t* rq = reinterpret_cast<const uint8_t*>(req.data());
  bool bt = bep15_is_request(rq, req.size());
  uint64_t before[BT_REQ_COUNT];
  memcpy(before, t->stats.bt_requests, sizeof before);

  tracker_handle_from(t, req.data(), req.size(), &from);
  const std::string& ans = t->answer;

  if (!bt) {
    if (memcmp(before, t->stats.bt_requests, sizeof before) != 0)
      fail("a datagram not taken for BEP 15 was counted as BitTorrent", req, ans);
    return 0;
  }
  Bep15Answer a;
  if (bep15_decode_answer(reinterpret_cast<const uint8_t*>(ans.data()), ans.size(), &a, &why) != 0)
    fail("the answer to a BEP 15 request is not a BEP 15 answer", req, ans);
  if (a.transaction_id != be32(req, 12)) fail("the answer's transaction id differs", req, ans);
  uint32_t action = be32(req, 8);
  if (a.action == BEP15_ERROR) {
    if (ans.size() > req.size()) fail("an error answer longer than its request", req, ans);
  } else {
    if (static_cast<uint32_t>(a.action) != action) fail("answer to another action", req, ans);
    if (action != BEP15_CONNECT) {
      uint64_t cid = be64(req, 0);
      uint64_t prev = tracker_bt_connection_id(t, from.sin_addr.s_addr, kPorts[who],
                                               t->now - kBtConnectionWindowMs);
      if (cid != valid && cid != prev) fail("an answer without a valid connection id", req, ans);
    }
    if (action == BEP15_ANNOUNCE) {
      if (a.peers.size() > static_cast<size_t>(g_lim.numwant_max))
        fail("more peers than numwant_max", req, ans);
      uint16_t port =
          static_cast<uint16_t>(static_cast<uint8_t>(req[96]) << 8 | static_cast<uint8_t>(req[97]));
      for (const BtPeerAddr& p : a.peers)
        if (p.ip == from.sin_addr.s_addr && p.port == port)
          fail("the announcer is in its own peer list", req, ans);
      if (a.seeders + a.leechers > bt_peer_count(t->bt)) fail("counts over the store", req, ans);
    }
    if (action == BEP15_SCRAPE && a.files.size() != (req.size() - 16) / 20)
      fail("a scrape answer without one row per hash", req, ans);
  }
  if (bt_swarm_count(t->bt) > g_lim.max_swarms) fail("more swarms than the cap", req, ans);
  if (bt_peer_count(t->bt) > g_lim.max_peers) fail("more peers than the cap", req, ans);
  return 0;
}
