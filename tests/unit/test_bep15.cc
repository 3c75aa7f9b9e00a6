// bep15: BEP 15 datagrams against the BEP's byte layouts (hand-built bytes).
#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>

#include "bep15.h"

static std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b)
    s.push_back(static_cast<char>(c));
  return s;
}

static const uint8_t* u(const std::string& s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

TEST_CASE("bep15: connect request and answer", "[bep15]") {
  // protocol_id 0x41727101980, action 0, transaction_id 0x01020304
  std::string req = bytes({0x00, 0x00, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 1, 2, 3, 4});
  CHECK(bep15_is_request(u(req), req.size()));
  Bep15Request r;
  const char* why = nullptr;
  REQUIRE(bep15_decode_request(u(req), req.size(), &r, &why) == 0);
  CHECK(r.action == BEP15_CONNECT);
  CHECK(r.transaction_id == 0x01020304u);
  std::string enc;
  bep15_encode_connect_request(0x01020304, &enc);
  CHECK(enc == req);
  // A wrong magic is not a connect (and not taken for BEP 15 at all).
  std::string bad = req;
  bad[7] = 0x81;
  CHECK_FALSE(bep15_is_request(u(bad), bad.size()));
  CHECK(bep15_decode_request(u(bad), bad.size(), &r, &why) == -1);
  CHECK(std::string(why) == "wrong protocol id");
  // Answer: action 0, transaction id, connection id.
  std::string ans;
  bep15_encode_connect(0x01020304, 0x1122334455667788ull, &ans);
  CHECK(ans == bytes({0, 0, 0, 0, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}));
  Bep15Answer a;
  REQUIRE(bep15_decode_answer(u(ans), ans.size(), &a, &why) == 0);
  CHECK(a.connection_id == 0x1122334455667788ull);
}

static std::string announce_bytes() {
  std::string s = bytes({0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88});  // connection id
  s += bytes({0, 0, 0, 1});                                                 // action announce
  s += bytes({0xde, 0xad, 0xbe, 0xef});                                     // transaction id
  for (int i = 0; i < 20; i++)
    s.push_back(static_cast<char>(0xa0 + i));  // info hash
  for (int i = 0; i < 20; i++)
    s.push_back(static_cast<char>('A' + i));  // peer id
  s += bytes({0, 0, 0, 0, 0, 0, 0, 5});       // downloaded
  s += bytes({0, 0, 0, 1, 0, 0, 0, 0});       // left 2^32
  s += bytes({0, 0, 0, 0, 0, 0, 0, 7});       // uploaded
  s += bytes({0, 0, 0, 2});                   // event started
  s += bytes({10, 0, 0, 9});                  // ip (ignored)
  s += bytes({0, 0, 0x30, 0x39});             // key 12345
  s += bytes({0xff, 0xff, 0xff, 0xff});       // num_want -1
  s += bytes({0x1a, 0xe1});                   // port 6881
  return s;
}

TEST_CASE("bep15: announce request, 98 bytes", "[bep15]") {
  std::string req = announce_bytes();
  REQUIRE(req.size() == 98);
  CHECK(bep15_is_request(u(req), req.size()));
  Bep15Request r;
  const char* why = nullptr;
  REQUIRE(bep15_decode_request(u(req), req.size(), &r, &why) == 0);
  CHECK(r.action == BEP15_ANNOUNCE);
  CHECK(r.connection_id == 0x1122334455667788ull);
  CHECK(r.transaction_id == 0xdeadbeefu);
  CHECK(r.a.info_hash.b[0] == 0xa0);
  CHECK(r.a.info_hash.b[19] == 0xa0 + 19);
  CHECK(memcmp(r.a.peer_id, "ABCDEFGHIJKLMNOPQRST", 20) == 0);
  CHECK(r.downloaded == 5);
  CHECK(r.a.left == (1ull << 32));
  CHECK(r.uploaded == 7);
  CHECK(r.a.event == BT_EVENT_STARTED);
  CHECK(r.ip_field == htonl(0x0a000009));
  CHECK(r.a.ip == 0);  // the sender's address is the tracker's to set
  CHECK(r.a.key == 12345);
  CHECK(r.a.numwant == -1);
  CHECK(r.a.port == 6881);
  // Options after the 98 bytes (BEP 41) are allowed; fewer bytes are not.
  std::string longer = req + bytes({2, 4, '/', 'a', 'n', 'n'});
  CHECK(bep15_decode_request(u(longer), longer.size(), &r, &why) == 0);
  CHECK(bep15_decode_request(u(req), 97, &r, &why) == -1);
  CHECK(std::string(why) == "announce shorter than 98 bytes");
  std::string badev = req;
  badev[83] = 4;
  CHECK(bep15_decode_request(u(badev), badev.size(), &r, &why) == -1);
  CHECK(std::string(why) == "unknown event");
  // The encoder writes the same layout.
  BtAnnounce a;
  Bep15Request r2;
  REQUIRE(bep15_decode_request(u(req), req.size(), &r2, &why) == 0);
  a = r2.a;
  a.ip = htonl(0x0a000009);
  std::string enc;
  bep15_encode_announce_request(0x1122334455667788ull, 0xdeadbeef, a, &enc);
  REQUIRE(enc.size() == 98);
  CHECK(enc.substr(0, 56) == req.substr(0, 56));
  CHECK(enc.substr(64, 8) == req.substr(64, 8));  // left
  CHECK(enc.substr(80) == req.substr(80));
}

TEST_CASE("bep15: announce answer, 20 bytes + 6 per peer", "[bep15]") {
  BtCounts c;
  c.leechers = 3;
  c.seeders = 0x0102;
  std::vector<BtPeerAddr> peers = {{htonl(0x7f000001), 6881}, {htonl(0xc0a80102), 0x1234}};
  std::string ans;
  bep15_encode_announce(0xdeadbeef, 1800, c, peers, &ans);
  CHECK(ans ==
        bytes({0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef, 0,    0,    0x07, 0x08, 0, 0, 0,    3,
               0, 0, 1, 2, 127,  0,    0,    1,    0x1a, 0xe1, 192,  168,  1, 2, 0x12, 0x34}));
  Bep15Answer a;
  const char* why = nullptr;
  REQUIRE(bep15_decode_answer(u(ans), ans.size(), &a, &why) == 0);
  CHECK(a.interval == 1800);
  CHECK(a.seeders == 0x0102);
  REQUIRE(a.peers.size() == 2);
  CHECK(a.peers[1].ip == htonl(0xc0a80102));
  CHECK(a.peers[1].port == 0x1234);
  CHECK(bep15_decode_answer(u(ans), ans.size() - 1, &a, &why) == -1);
}

TEST_CASE("bep15: scrape request (16 + 20 n, n <= 74) and answer (8 + 12 n)", "[bep15]") {
  std::string req = bytes({1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 2, 0, 0, 0, 9});
  for (int h = 0; h < 2; h++)
    for (int i = 0; i < 20; i++)
      req.push_back(static_cast<char>(h * 20 + i));
  Bep15Request r;
  const char* why = nullptr;
  CHECK(bep15_is_request(u(req), req.size()));
  REQUIRE(bep15_decode_request(u(req), req.size(), &r, &why) == 0);
  CHECK(r.action == BEP15_SCRAPE);
  CHECK(r.transaction_id == 9);
  REQUIRE(r.nhashes == 2);
  CHECK(r.hashes[1].b[0] == 20);
  CHECK(r.hashes[1].b[19] == 39);
  std::string enc;
  bep15_encode_scrape_request(0x0102030405060708ull, 9, r.hashes, 2, &enc);
  CHECK(enc == req);
  CHECK(bep15_decode_request(u(req), req.size() - 1, &r, &why) == -1);
  CHECK(std::string(why) == "scrape length is not 16 + 20 n");
  std::string many = req.substr(0, 16) + std::string(20 * 74, 'x');
  CHECK(bep15_decode_request(u(many), many.size(), &r, &why) == 0);
  CHECK(r.nhashes == 74);
  many += std::string(20, 'x');
  CHECK(bep15_decode_request(u(many), many.size(), &r, &why) == -1);
  CHECK(std::string(why) == "scrape of more than 74 info hashes");

  BtCounts c[2];
  c[0].seeders = 1;
  c[0].completed = 2;
  c[0].leechers = 3;
  c[1].seeders = 0x01000000;
  std::string ans;
  bep15_encode_scrape(9, c, 2, &ans);
  CHECK(ans == bytes({0, 0, 0, 2, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 2,
                      0, 0, 0, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  Bep15Answer a;
  REQUIRE(bep15_decode_answer(u(ans), ans.size(), &a, &why) == 0);
  REQUIRE(a.files.size() == 2);
  CHECK(a.files[0].leechers == 3);
}

TEST_CASE("bep15: error answers carry the message, cut to a length", "[bep15]") {
  std::string ans;
  bep15_encode_error(7, "bad connection id", 1000, &ans);
  CHECK(ans == bytes({0, 0, 0, 3, 0, 0, 0, 7}) + "bad connection id");
  bep15_encode_error(7, "bad connection id", 12, &ans);
  CHECK(ans == bytes({0, 0, 0, 3, 0, 0, 0, 7}) + "bad ");
  Bep15Answer a;
  const char* why = nullptr;
  REQUIRE(bep15_decode_answer(u(ans), ans.size(), &a, &why) == 0);
  CHECK(a.action == BEP15_ERROR);
  CHECK(a.message == "bad ");
}

TEST_CASE("bep15: what is not BEP 15 is left to the JSON path", "[bep15]") {
  std::string json = "{\"action\":\"join\",\"peer_id\":\"1\",\"port\":5}";
  CHECK_FALSE(bep15_is_request(u(json), json.size()));
  std::string shortreq = bytes({0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0});
  CHECK_FALSE(bep15_is_request(u(shortreq), shortreq.size()));
  std::string text = "hello tracker, how are you";
  CHECK_FALSE(bep15_is_request(u(text), text.size()));
  std::string act9 = bytes({1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 9, 0, 0, 0, 1});
  CHECK_FALSE(bep15_is_request(u(act9), act9.size()));
  Bep15Request r;
  const char* why = nullptr;
  CHECK(bep15_decode_request(u(act9), act9.size(), &r, &why) == -1);
  CHECK(std::string(why) == "unknown action");
}

/* ---- the tracker's BEP 15 path ------------------------------------------- */

#include "tracker.h"
#include "tracker_call.h"

static Bep15Answer answer_of(const std::string& s) {
  Bep15Answer a;
  const char* why = nullptr;
  REQUIRE(bep15_decode_answer(u(s), s.size(), &a, &why) == 0);
  return a;
}

static BtAnnounce bt_ann(uint64_t left, int event, int peer) {
  BtAnnounce a;
  memset(&a, 0, sizeof a);
  memset(a.info_hash.b, 0xab, 20);
  memset(a.peer_id, peer, 20);
  a.left = left;
  a.event = event;
  a.numwant = -1;
  a.port = static_cast<uint16_t>(6000 + peer);
  a.ip = htonl(0x0a000063);  // a forged ip field: ignored
  return a;
}

TEST_CASE("tracker: BEP 15 connect, announce, scrape beside JSON", "[bep15][tracker]") {
  Tracker* t = quiet_tracker();
  tracker_init_key(t);
  t->now = 10 * 60 * 1000;
  std::string req;
  bep15_encode_connect_request(77, &req);
  Bep15Answer c1 = answer_of(send(t, req, "127.0.0.1", 5001));
  CHECK(c1.action == BEP15_CONNECT);
  CHECK(c1.transaction_id == 77);
  Bep15Answer c2 = answer_of(send(t, req, "127.0.0.1", 5002));
  CHECK(c1.connection_id != c2.connection_id);  // bound to the sender's address

  // A seeder, then a leecher that gets the seeder's address (the sender's, not the ip field).
  bep15_encode_announce_request(c1.connection_id, 1, bt_ann(0, BT_EVENT_STARTED, 1), &req);
  Bep15Answer a1 = answer_of(send(t, req, "127.0.0.1", 5001));
  CHECK(a1.action == BEP15_ANNOUNCE);
  CHECK(a1.interval == 1800);
  CHECK(a1.seeders == 1);
  CHECK(a1.peers.empty());
  bep15_encode_announce_request(c2.connection_id, 2, bt_ann(100, BT_EVENT_STARTED, 2), &req);
  Bep15Answer a2 = answer_of(send(t, req, "127.0.0.1", 5002));
  CHECK(a2.seeders == 1);
  CHECK(a2.leechers == 1);
  REQUIRE(a2.peers.size() == 1);
  CHECK(a2.peers[0].ip == htonl(0x7f000001));
  CHECK(a2.peers[0].port == 6001);

  // Scrape.
  BtHash hs[2];
  memset(hs[0].b, 0xab, 20);
  memset(hs[1].b, 0xcd, 20);
  bep15_encode_scrape_request(c1.connection_id, 3, hs, 2, &req);
  Bep15Answer sc = answer_of(send(t, req, "127.0.0.1", 5001));
  REQUIRE(sc.files.size() == 2);
  CHECK(sc.files[0].seeders == 1);
  CHECK(sc.files[0].leechers == 1);
  CHECK(sc.files[1].seeders == 0);

  // The id is good for its minute and the next, not after.
  t->now += 60 * 1000;
  CHECK(answer_of(send(t, req, "127.0.0.1", 5001)).action == BEP15_SCRAPE);
  t->now += 60 * 1000;
  std::string late = send(t, req, "127.0.0.1", 5001);
  CHECK(answer_of(late).action == BEP15_ERROR);
  CHECK(late.size() <= req.size());

  CHECK(t->stats.bt_requests[BT_REQ_CONNECT] == 2);
  CHECK(t->stats.bt_requests[BT_REQ_ANNOUNCE] == 2);
  CHECK(t->stats.bt_requests[BT_REQ_SCRAPE] == 3);
  CHECK(t->stats.bt_requests[BT_REQ_ERROR] == 1);
  std::string text;
  tracker_stats_text(t, &text);
  CHECK(text.find("bittorrent: 1 swarms, 2 peers; requests: connect 2, announce 2, scrape 3, "
                  "error 1") != std::string::npos);
  text.clear();
  tracker_metrics_text(t, &text);
  CHECK(text.find("tt_bt_requests_total{action=\"announce\"} 2\n") != std::string::npos);
  CHECK(text.find("tt_bt_swarms 1\n") != std::string::npos);
  CHECK(text.find("tt_bt_peers 2\n") != std::string::npos);
  // JSON requests are untouched and not counted as BitTorrent.
  std::string j = send(t, R"({"action":"join","peer_id":"1","files":[],"tcp_port":1001})");
  CHECK(j == R"({"status":"ok"})");
  delete t;
}

TEST_CASE("tracker: a forged connection id gets an error no longer than the request",
          "[bep15][tracker]") {
  Tracker* t = quiet_tracker();
  tracker_init_key(t);
  t->now = 5 * 60 * 1000;
  std::string req;
  uint64_t id = tracker_bt_connection_id(t, htonl(0x7f000001), 5001, t->now);
  // Another sender presenting that id (a forged source address).
  bep15_encode_announce_request(id, 9, bt_ann(0, BT_EVENT_STARTED, 1), &req);
  std::string ans = send(t, req, "127.0.0.2", 5001);
  Bep15Answer a = answer_of(ans);
  CHECK(a.action == BEP15_ERROR);
  CHECK(a.transaction_id == 9);
  CHECK(a.message == "bad connection id");
  CHECK(bt_peer_count(t->bt) == 0);
  // A scrape of no hashes (16 bytes) with a wrong id: the error still fits in 16.
  bep15_encode_scrape_request(id ^ 1, 9, nullptr, 0, &req);
  ans = send(t, req, "127.0.0.1", 5001);
  CHECK(ans.size() <= 16);
  CHECK(answer_of(ans).action == BEP15_ERROR);
  // A short announce: an error, nothing stored.
  bep15_encode_announce_request(id, 9, bt_ann(0, BT_EVENT_STARTED, 1), &req);
  req.resize(60);
  ans = send(t, req, "127.0.0.1", 5001);
  CHECK(answer_of(ans).message.find("shorter") != std::string::npos);
  CHECK(ans.size() <= req.size());
  CHECK(bt_peer_count(t->bt) == 0);
  delete t;
}

TEST_CASE("tracker: no connection id starts an announce with '{' (the JSON path's byte)",
          "[bep15][tracker]") {
  Tracker* t = quiet_tracker();
  tracker_init_key(t);
  t->now = 7 * 60 * 1000;
  // Without the rule about 1 id in 256 would lead with 0x7b; 4000 senders find one.
  int json_led = 0, answered = 0;
  std::string req;
  for (int port = 1024; port < 5024; port++) {
    uint64_t id = tracker_bt_connection_id(t, htonl(0x7f000001), port, t->now);
    bep15_encode_announce_request(id, 5, bt_ann(0, BT_EVENT_STARTED, port), &req);
    json_led += req[0] == '{';
    answered += answer_of(send(t, req, "127.0.0.1", port)).action == BEP15_ANNOUNCE;
  }
  CHECK(json_led == 0);
  CHECK(answered == 4000);
  delete t;
}
