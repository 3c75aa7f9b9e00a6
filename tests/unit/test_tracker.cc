// tracker: whole datagrams in, answers out, through tracker_handle (no sockets).
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <catch2/catch.hpp>
#include <cstdio>

#include "tracker.h"

static std::string send(Tracker* t, const std::string& d, const char* ip = "127.0.0.1",
                        int port = 4000) {
  tracker_handle(t, d.data(), d.size(), ip, port);
  return t->answer;
}

static Tracker* quiet_tracker() {
  Tracker* t = new Tracker;
  t->quiet = true;
  return t;
}

TEST_CASE("tracker: the seed session's answers", "[tracker]") {
  Tracker* t = quiet_tracker();
  CHECK(send(t, R"({"action":"join","peer_id":"1","files":[],"tcp_port":1001})") ==
        R"({"status":"ok"})");
  CHECK(send(t, R"({"action":"join","peer_id":"2","files":["example.txt"],"tcp_port":1002})") ==
        R"({"status":"ok"})");
  CHECK(send(t, R"({"action":"share_file","peer_id":"1","file":"example.txt"})") ==
        R"({"status":"ok"})");
  CHECK(send(t, R"({"action":"get_peers","peer_id":"3","file_name":"example.txt"})") ==
        R"({"peers":[["127.0.0.1",1002],["127.0.0.1",1001]]})");
  CHECK(send(t, R"({"action":"get_peers","peer_id":"3","file_name":"none"})") == R"({"peers":[]})");
  CHECK(send(t, R"({"action":"leave","peer_id":"2"})") == R"({"status":"ok"})");
  CHECK(send(t, R"({"action":"get_peers","peer_id":"3","file_name":"example.txt"})") ==
        R"({"peers":[["127.0.0.1",1001]]})");
  delete t;
}

TEST_CASE("tracker: a peer's address is the datagram's source ip with its tcp_port", "[tracker]") {
  Tracker* t = quiet_tracker();
  send(t, R"({"action":"join","peer_id":"7","files":["f"],"tcp_port":5555})", "10.1.2.3", 999);
  CHECK(send(t, R"({"action":"get_peers","peer_id":"x","file_name":"f"})") ==
        R"({"peers":[["10.1.2.3",5555]]})");
  delete t;
}

TEST_CASE("tracker: unknown peers get errors where the seed stayed silent", "[tracker]") {
  Tracker* t = quiet_tracker();
  const char* nf = R"({"status":"error","message":"Peer not found"})";
  CHECK(send(t, R"({"action":"share_file","peer_id":"9","file":"a"})") == nf);
  CHECK(send(t, R"({"action":"got_the_file","peer_id":"9","file_name":"a"})") == nf);
  CHECK(send(t, R"({"action":"leave","peer_id":"9"})") == nf);
  CHECK(reg_peer_count(&t->reg) == 0);
  delete t;
}

TEST_CASE("tracker: bad requests are refused and change nothing", "[tracker]") {
  Tracker* t = quiet_tracker();
  send(t, R"({"action":"join","peer_id":"1","files":["a"],"tcp_port":1001})");
  const char* bad[] = {
      "garbage",
      R"({"action":"fly","peer_id":"1"})",
      R"({"action":"join","peer_id":"1"})",
      R"({"action":"share_file","peer_id":"1"})",
      R"({"action":"share_file","file":"b"})",
      R"({"action":"share_file","peer_id":"1","file":"../b"})",
      R"({"action":"join","peer_id":"1","files":["a","/etc/passwd"],"tcp_port":1001})",
      R"({"action":"leave","peer_id":{"id":1}})",
  };
  for (const char* b : bad) {
    INFO(b);
    std::string a = send(t, b);
    CHECK_THAT(a, Catch::StartsWith(R"({"status":"error","message":")"));
  }
  CHECK(send(t, R"({"action":"fly","peer_id":"1"})") ==
        R"({"status":"error","message":"unknown action 'fly'"})");
  CHECK(send(t, R"({"action":"join","peer_id":"1"})") ==
        R"({"status":"error","message":"missing field 'tcp_port' for join"})");
  REQUIRE(reg_peer_count(&t->reg) == 1);
  CHECK(reg_peer_files(&t->reg, "1") == std::vector<std::string>{"a"});
  CHECK(reg_file_count(&t->reg) == 1);
  delete t;
}

TEST_CASE("tracker: got_the_file makes the downloader a source, once", "[tracker]") {
  Tracker* t = quiet_tracker();
  send(t, R"({"action":"join","peer_id":"1","files":["a"],"tcp_port":1001})");
  send(t, R"({"action":"join","peer_id":"3","files":[],"tcp_port":1003})");
  for (int i = 0; i < 3; i++)
    send(t, R"({"action":"got_the_file","peer_id":3,"file_name":"a"})");
  CHECK(send(t, R"({"action":"get_peers","peer_id":"x","file_name":"a"})") ==
        R"({"peers":[["127.0.0.1",1001],["127.0.0.1",1003]]})");
  delete t;
}

TEST_CASE("tracker: seed-form answers fit in 1024 bytes", "[tracker]") {
  Tracker* t = quiet_tracker();
  for (int i = 0; i < 200; i++) {
    std::string j = R"({"action":"join","peer_id":")" + std::to_string(i) +
                    R"(","files":["big"],"tcp_port":)" + std::to_string(10000 + i) + "}";
    send(t, j, "192.168.100.200");
  }
  std::string a = send(t, R"({"action":"get_peers","peer_id":"x","file_name":"big"})");
  CHECK(a.size() <= 1024);
  CHECK(a.substr(a.size() - 2) == "]}");
  delete t;
}

/* ---- extensions: seq, tokens, ownership, liveness, numwant ---------------- */

#include "rapidjson/document.h"

static rapidjson::Document parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str());
  REQUIRE(d.IsObject());
  return d;
}

static Tracker* keyed_tracker(int ttl_s = 9) {
  Tracker* t = quiet_tracker();
  tracker_init_key(t);
  t->opt.peer_ttl_s = ttl_s;
  t->reg.ttl_ms = ttl_s * 1000;
  return t;
}

// An extended join from 127.0.0.1:udp; returns the token.
static std::string xjoin(Tracker* t, const char* id, int tcp, int udp, int seq = 1) {
  std::string j = std::string(R"({"action":"join","v":1,"seq":)") + std::to_string(seq) +
                  R"(,"peer_id":")" + id + R"(","files":["f"],"tcp_port":)" + std::to_string(tcp) +
                  "}";
  rapidjson::Document d = parse(send(t, j, "127.0.0.1", udp));
  REQUIRE(d["status"] == "ok");
  return d["token"].GetString();
}

TEST_CASE("tracker: an extended join gets the seq back, a heartbeat interval and a token",
          "[tracker]") {
  Tracker* t = keyed_tracker(9);
  rapidjson::Document d = parse(
      send(t, R"({"action":"join","v":1,"seq":42,"peer_id":"1","files":[],"tcp_port":1001})"));
  CHECK(d["status"] == "ok");
  CHECK(d["v"] == 1);
  CHECK(d["seq"] == 42);
  CHECK(d["interval"] == 3);
  CHECK(std::string(d["token"].GetString()).size() == 32);
  CHECK(d["token"].GetString() == tracker_token(t, "1", "127.0.0.1", 1001));
  delete t;
}

TEST_CASE("tracker: errors to extended requests echo seq too", "[tracker]") {
  Tracker* t = keyed_tracker();
  rapidjson::Document d =
      parse(send(t, R"({"action":"heartbeat","v":1,"seq":7,"peer_id":"nobody"})"));
  CHECK(d["status"] == "error");
  CHECK(d["message"] == "Peer not found");
  CHECK(d["seq"] == 7);
  d = parse(send(t, R"({"action":"heartbeat","v":2,"seq":7,"peer_id":"x"})"));
  CHECK_THAT(d["message"].GetString(), Catch::Contains("unsupported protocol version"));
  delete t;
}

TEST_CASE("tracker: tokens differ by id, address and tracker key", "[tracker]") {
  Tracker* a = keyed_tracker();
  Tracker* b = keyed_tracker();
  std::string tok = tracker_token(a, "1", "127.0.0.1", 1001);
  CHECK(tok != tracker_token(a, "2", "127.0.0.1", 1001));
  CHECK(tok != tracker_token(a, "1", "127.0.0.2", 1001));
  CHECK(tok != tracker_token(a, "1", "127.0.0.1", 1002));
  CHECK(tok != tracker_token(b, "1", "127.0.0.1", 1001));
  delete a;
  delete b;
}

TEST_CASE("tracker: a token is the first half of HMAC-SHA256(key, id NUL ip NUL port)",
          "[tracker]") {
  Tracker* t = keyed_tracker();
  for (const std::string& id :
       std::vector<std::string>{"1", "peer-with-a-longer-id", std::string(64, 'x')}) {
    std::string msg = id + '\0' + "10.1.2.3" + '\0' + "6881";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), t->key, sizeof t->key, reinterpret_cast<const unsigned char*>(msg.data()),
         msg.size(), mac, &len);
    REQUIRE(len == 32);
    char hex[33];
    for (int i = 0; i < 16; i++)
      snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    CHECK(tracker_token(t, id, "10.1.2.3", 6881) == hex);
  }
  delete t;
}

TEST_CASE("tracker: an id is acted for only from the address that joined with it", "[tracker]") {
  Tracker* t = keyed_tracker();
  send(t, R"({"action":"join","peer_id":"5","files":["a"],"tcp_port":1005})", "127.0.0.1", 4000);
  const char* leave = R"({"action":"leave","peer_id":"5"})";
  CHECK_THAT(send(t, leave, "127.0.0.1", 4001), Catch::Contains("belongs to another address"));
  CHECK_THAT(send(t, leave, "127.0.0.2", 4000), Catch::Contains("belongs to another address"));
  CHECK_THAT(send(t, R"({"action":"share_file","peer_id":"5","file":"b"})", "127.0.0.1", 4001),
             Catch::Contains("belongs to another address"));
  CHECK(reg_peer_files(&t->reg, "5") == std::vector<std::string>{"a"});
  CHECK(send(t, leave, "127.0.0.1", 4000) == R"({"status":"ok"})");
  CHECK(reg_peer_count(&t->reg) == 0);
  delete t;
}

TEST_CASE("tracker: an extended holder must show its token, even from its own address",
          "[tracker]") {
  Tracker* t = keyed_tracker();
  std::string tok = xjoin(t, "6", 1006, 4000);
  std::string bad_tok(32, '0');
  std::string base = R"({"action":"share_file","peer_id":"6","file":"g","v":1,"seq":2)";
  CHECK_THAT(send(t, base + "}", "127.0.0.1", 4000), Catch::Contains("missing or wrong token"));
  CHECK_THAT(send(t, base + R"(,"token":")" + bad_tok + "\"}", "127.0.0.1", 4000),
             Catch::Contains("missing or wrong token"));
  CHECK_THAT(send(t, R"({"action":"share_file","peer_id":"6","file":"g"})", "127.0.0.1", 4000),
             Catch::Contains("missing or wrong token"));
  CHECK(reg_peer_files(&t->reg, "6") == std::vector<std::string>{"f"});
  rapidjson::Document d = parse(send(t, base + R"(,"token":")" + tok + "\"}", "127.0.0.1", 4000));
  CHECK(d["status"] == "ok");
  CHECK(d["seq"] == 2);
  CHECK(reg_peer_files(&t->reg, "6") == std::vector<std::string>{"f", "g"});
  CHECK_THAT(send(t, base + R"(,"token":")" + tok + "\"}", "127.0.0.1", 4001),
             Catch::Contains("belongs to another address"));
  delete t;
}

TEST_CASE("tracker: a join for a held id waits for a probe of the holder", "[tracker]") {
  Tracker* t = keyed_tracker();
  xjoin(t, "7", 1007, 4000);
  std::string j = R"({"action":"join","v":1,"seq":1,"peer_id":"7","files":[],"tcp_port":2007})";
  std::string probe_id;
  CHECK(tracker_handle(t, j.data(), j.size(), "127.0.0.1", 5000, &probe_id) == TRACKER_PROBE);
  CHECK(probe_id == "7");
  SECTION("a live holder keeps its id") {
    tracker_probe_result(t, "7", true);
    CHECK(tracker_handle(t, j.data(), j.size(), "127.0.0.1", 5000) == TRACKER_ANSWER);
    CHECK_THAT(t->answer, Catch::Contains("held by a live peer at 127.0.0.1:1007"));
    CHECK(reg_find(&t->reg, "7")->tcp_port == 1007);
  }
  SECTION("a dead holder's id is taken over") {
    tracker_probe_result(t, "7", false);
    CHECK(reg_peer_count(&t->reg) == 0);
    CHECK(tracker_handle(t, j.data(), j.size(), "127.0.0.1", 5000) == TRACKER_ANSWER);
    CHECK(parse(t->answer)["status"] == "ok");
    CHECK(reg_find(&t->reg, "7")->tcp_port == 2007);
  }
  delete t;
}

TEST_CASE("tracker: a peer silent past its ttl leaves the answers, then the state", "[tracker]") {
  Tracker* t = keyed_tracker(3);
  std::string tok = xjoin(t, "8", 1008, 4000);
  const char* get = R"({"action":"get_peers","peer_id":"x","file_name":"f"})";
  t->now = 2900;
  std::string hb = R"({"action":"heartbeat","v":1,"seq":3,"peer_id":"8","token":")" + tok + "\"}";
  CHECK(parse(send(t, hb, "127.0.0.1", 4000))["status"] == "ok");
  t->now = 5800;  // 2.9 s after the heartbeat: still alive
  CHECK(send(t, get) == R"({"peers":[["127.0.0.1",1008]]})");
  t->now = 6000;
  CHECK(send(t, get) == R"({"peers":[]})");
  CHECK(reg_peer_count(&t->reg) == 1);
  tracker_expire(t);
  CHECK(reg_peer_count(&t->reg) == 0);
  CHECK(parse(send(t, hb, "127.0.0.1", 4000))["message"] == "Peer not found");
  delete t;
}

TEST_CASE("tracker: numwant bounds the list; only proven owners get long answers", "[tracker]") {
  Tracker* t = keyed_tracker();
  for (int i = 0; i < 300; i++) {
    std::string j = R"({"action":"join","peer_id":"s)" + std::to_string(i) +
                    R"(","files":["z"],"tcp_port":)" + std::to_string(10000 + i) + "}";
    send(t, j, "127.0.0.1", 20000 + i);
  }
  std::string tok = xjoin(t, "me", 1000, 4000);
  auto get = [&](const std::string& extra) {
    return R"({"action":"get_peers","v":1,"seq":9,"peer_id":"me","file_name":"z")" + extra + "}";
  };
  rapidjson::Document d =
      parse(send(t, get(R"(,"numwant":10,"token":")" + tok + "\""), "127.0.0.1", 4000));
  CHECK(d["sources"].Size() == 10);
  CHECK(d["peers"].Size() == 10);
  std::string big = send(t, get(R"(,"numwant":1000,"token":")" + tok + "\""), "127.0.0.1", 4000);
  CHECK(big.size() <= 8192);
  d = parse(big);
  CHECK(d["sources"].Size() > 50);
  CHECK(d["sources"].Size() <= 200);
  std::string stolen = send(t, get(R"(,"numwant":1000,"token":")" + tok + "\""), "127.0.0.1", 4001);
  CHECK(stolen.size() <= 1024);  // the token alone, from another address, proves nothing
  std::string anon = send(t, get(R"(,"numwant":1000)"), "127.0.0.2", 4000);
  CHECK(anon.size() <= 1024);
  CHECK(parse(anon)["sources"].Size() > 0);
  std::string seed = send(t, R"({"action":"get_peers","peer_id":"q","file_name":"z"})");
  CHECK(seed.size() <= 1024);
  CHECK(parse(seed)["peers"].Size() <= 30);
  CHECK_THAT(send(t, get(R"(,"numwant":0)")),
             Catch::Contains("'numwant' must be a positive integer"));
  delete t;
}

TEST_CASE("tracker: a datagram that is itself an answer is never answered", "[tracker]") {
  Tracker* t = keyed_tracker();
  CHECK(send(t, R"({"status":"error","message":"invalid JSON"})").empty());
  CHECK(send(t, R"({"peers":[]})").empty());
  CHECK(send(t, R"({"status":"ok","v":1,"seq":3})").empty());
  CHECK_THAT(send(t, R"({"peer_id":"1"})"), Catch::Contains("missing field 'action'"));
  delete t;
}

TEST_CASE("tracker: sizes, content ids and partial copies reach get_peers answers", "[tracker]") {
  Tracker* t = keyed_tracker();
  std::string cid(64, 'a'), other(64, 'b');
  std::string t1 = xjoin(t, "1", 1001, 4001);
  std::string t2 = xjoin(t, "2", 1002, 4002);
  std::string t3 = xjoin(t, "3", 1003, 4003);
  auto share = [&](const char* id, const std::string& tok, int udp, const std::string& extra) {
    return send(t,
                std::string(R"({"action":"share_file","v":1,"seq":5,"peer_id":")") + id +
                    R"(","token":")" + tok + R"(","file":"m.bin")" + extra + "}",
                "127.0.0.1", udp);
  };
  CHECK_THAT(share("1", t1, 4001, R"(,"size":10,"id":")" + cid + "\""), Catch::Contains("\"ok\""));
  CHECK_THAT(share("2", t2, 4002, R"(,"size":10,"id":")" + cid + R"(","complete":false)"),
             Catch::Contains("\"ok\""));
  CHECK_THAT(share("3", t3, 4003, R"(,"size":11,"id":")" + other + "\""),
             Catch::Contains("\"ok\""));
  rapidjson::Document d =
      parse(send(t, R"({"action":"get_peers","v":1,"seq":1,"peer_id":"x","file_name":"m.bin"})"));
  CHECK(d["size"] == 10);
  CHECK(d["id"] == rapidjson::StringRef(cid.c_str()));
  REQUIRE(d["sources"].Size() == 2);  // peer 3's other content is left out
  CHECK(d["sources"][1]["complete"] == false);
  CHECK(d["peers"].Size() == 1);  // complete sources only
  // The partial copy completes with got_the_file.
  send(t,
       R"({"action":"got_the_file","v":1,"seq":6,"peer_id":"2","token":")" + t2 +
           R"(","file_name":"m.bin","size":10,"id":")" + cid + "\"}",
       "127.0.0.1", 4002);
  d = parse(send(t, R"({"action":"get_peers","v":1,"seq":1,"peer_id":"x","file_name":"m.bin"})"));
  CHECK(d["peers"].Size() == 2);
  delete t;
}

TEST_CASE("tracker: a seed-form request never gets more than 1024 bytes, token or not",
          "[tracker]") {
  Tracker* t = keyed_tracker();
  for (int i = 0; i < 120; i++) {
    std::string j = R"({"action":"join","peer_id":"s)" + std::to_string(i) +
                    R"(","files":["z"],"tcp_port":)" + std::to_string(10000 + i) + "}";
    send(t, j, "127.0.0.1", 20000 + i);
  }
  std::string tok = xjoin(t, "me", 1000, 4000);
  std::string a =
      send(t,
           R"({"action":"get_peers","peer_id":"me","file_name":"z","numwant":200,"token":")" + tok +
               "\"}",
           "127.0.0.1", 4000);
  CHECK(a.size() <= 1024);
  delete t;
}

TEST_CASE("tracker: an answer never reads sources listed for an earlier request", "[tracker]") {
  // get_peers lists sources as views into the registry; joins that follow may
  // move the registry's storage. (Found by the fuzzer under ASan.)
  Tracker* t = keyed_tracker();
  send(t, R"({"action":"join","peer_id":"1","files":["a"],"tcp_port":1001})", "127.0.0.1", 5001);
  CHECK(send(t, R"({"action":"get_peers","v":1,"seq":1,"peer_id":"2","file_name":"a"})")
            .find("1001") != std::string::npos);
  for (int i = 0; i < 200; i++)
    send(t,
         R"({"action":"join","v":1,"seq":2,"peer_id":"j)" + std::to_string(i) +
             R"(","files":[],"tcp_port":2000})",
         "127.0.0.1", 6000 + i);
  CHECK(send(t, R"({"action":"heartbeat","v":1,"seq":3,"peer_id":"nobody"})").find("error") !=
        std::string::npos);
  delete t;
}

TEST_CASE("tracker: a name with several contents: others on share, contents on get_peers",
          "[tracker]") {
  Tracker* t = keyed_tracker();
  std::string a(64, 'a'), b(64, 'b');
  std::string t1 = xjoin(t, "1", 1001, 4001);
  std::string t2 = xjoin(t, "2", 1002, 4002);
  auto share = [&](const char* id, const std::string& tok, int udp, const std::string& cid) {
    return parse(send(t,
                      std::string(R"({"action":"share_file","v":1,"peer_id":")") + id +
                          R"(","token":")" + tok + R"(","file":"m.bin","size":7,"id":")" + cid +
                          "\"}",
                      "127.0.0.1", udp));
  };
  CHECK(share("1", t1, 4001, a)["others"] == 0);
  CHECK(share("2", t2, 4002, b)["others"] == 1);
  rapidjson::Document d = parse(send(
      t, R"({"action":"get_peers","v":1,"peer_id":"x","file_name":"m.bin"})", "127.0.0.1", 4009));
  REQUIRE(d["contents"].Size() == 2);
  CHECK(d["contents_total"] == 2);
  CHECK(d["contents"][0]["holders"] == 1);
  // By a prefix of b: b's holder, and the name.
  d = parse(send(
      t, R"({"action":"get_peers","v":1,"peer_id":"x","file_name":"bbbbbbbb","id":"bbbbbbbb"})",
      "127.0.0.1", 4009));
  CHECK(d["id"] == rapidjson::StringRef(b.c_str()));
  CHECK(d["name"] == "m.bin");
  REQUIRE(d["sources"].Size() == 1);
  CHECK(d["sources"][0]["peer_id"] == "2");
  // A short or non-hex prefix is refused; share_file needs the whole id.
  CHECK_THAT(send(t, R"({"action":"get_peers","v":1,"peer_id":"x","file_name":"m","id":"bbbb"})"),
             Catch::Contains("must be 64 lowercase hex digits"));
  CHECK_THAT(
      send(t, R"({"action":"get_peers","v":1,"peer_id":"x","file_name":"m","id":"BBBBBBBB"})"),
      Catch::Contains("8 to 64 lowercase hex digits"));
  CHECK_THAT(send(t,
                  std::string(R"({"action":"share_file","v":1,"peer_id":"1","token":")") + t1 +
                      R"(","file":"n","id":"aaaaaaaa"})",
                  "127.0.0.1", 4001),
             Catch::Contains("must be 64 lowercase hex digits"));
  delete t;
}

TEST_CASE("tracker: registrations past the per-address cap are refused and change nothing",
          "[tracker]") {
  Tracker* t = keyed_tracker();
  t->reg.max_files_per_ip = 3;                 // --max-files-per-ip 3
  std::string t1 = xjoin(t, "1", 1001, 4001);  // holds "f"
  auto share = [&](const std::string& name) {
    return send(t,
                std::string(R"({"action":"share_file","v":1,"peer_id":"1","token":")") + t1 +
                    R"(","file":")" + name + "\"}",
                "127.0.0.1", 4001);
  };
  CHECK_THAT(share("g"), Catch::Contains("\"ok\""));
  CHECK_THAT(share("h"), Catch::Contains("\"ok\""));
  CHECK_THAT(share("i"), Catch::Contains("too many files registered (at most 65536 per peer, 3 "
                                         "per address, 4000000 in all); nothing was changed"));
  CHECK(!reg_has_file(&t->reg, "i"));
  CHECK_THAT(share("g"), Catch::Contains("\"ok\""));  // held already: no new registration
  // A join from another address is not affected.
  CHECK_THAT(
      send(t, R"({"action":"join","peer_id":"9","files":["i"],"tcp_port":9})", "127.0.0.2", 5000),
      Catch::Contains("\"ok\""));
  CHECK(reg_has_file(&t->reg, "i"));
  delete t;
}
