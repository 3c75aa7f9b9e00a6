// tracker: whole datagrams in, answers out, through tracker_handle (no sockets).
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <set>

#include "tracker.h"
#include "tracker_call.h"

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
  CHECK(tracker_handle(t, j, "127.0.0.1", 5000, &probe_id) == TRACKER_PROBE);
  CHECK(probe_id == "7");
  SECTION("a live holder keeps its id") {
    tracker_probe_result(t, "7", PROBE_ALIVE);
    CHECK(tracker_handle(t, j, "127.0.0.1", 5000) == TRACKER_ANSWER);
    CHECK_THAT(t->answer, Catch::Contains("held by a live peer at 127.0.0.1:1007"));
    CHECK(reg_find(&t->reg, "7")->tcp_port == 1007);
  }
  SECTION("a dead holder's id is taken over") {
    tracker_probe_result(t, "7", PROBE_REFUSED);
    CHECK(reg_peer_count(&t->reg) == 0);
    CHECK(tracker_handle(t, j, "127.0.0.1", 5000) == TRACKER_ANSWER);
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
  CHECK_THAT(share("i"),
             Catch::Contains("too many files registered from 127.0.0.1 (at most 3 per "
                             "address, 65536 per peer id, 4000000 in all); nothing was changed"));
  CHECK(!reg_has_file(&t->reg, "i"));
  CHECK_THAT(share("g"), Catch::Contains("\"ok\""));  // held already: no new registration
  // A join from another address is not affected.
  CHECK_THAT(
      send(t, R"({"action":"join","peer_id":"9","files":["i"],"tcp_port":9})", "127.0.0.2", 5000),
      Catch::Contains("\"ok\""));
  CHECK(reg_has_file(&t->reg, "i"));
  delete t;
}

/* ---- one hostile sender ------------------------------------------------- */

static int handle_at(Tracker* t, const std::string& d, const char* ip, int port,
                     std::string* probe_id = nullptr) {
  return tracker_handle(t, d, ip, port, probe_id);
}

static std::string join_of(const std::string& id, int tcp, const std::string& extra = "") {
  return R"({"action":"join","peer_id":")" + id + R"(","files":[)" + extra + R"(],"tcp_port":)" +
         std::to_string(tcp) + "}";
}

// A list of n file names of 200 bytes each: a join of about n * 203 bytes.
static std::string big_files(int n) {
  std::string s;
  for (int i = 0; i < n; i++)
    s += (i ? ",\"" : "\"") + std::to_string(i) + std::string(200, 'x') + "\"";
  return s;
}

TEST_CASE("tracker: ids with C1 controls (CSI, NEL) are refused like C0 ones", "[tracker]") {
  Tracker* t = keyed_tracker();
  for (const char* id : {"a\\u009b2J", "a\\u0085b", "\\u0080", "x\\u009f", "a\\u0001"}) {
    INFO(id);
    std::string a = send(t, std::string(R"({"action":"join","peer_id":")") + id +
                                R"(","files":[],"tcp_port":1001})");
    CHECK(a ==
          R"({"status":"error","message":"field 'peer_id' may not contain control characters"})");
  }
  // Raw bytes too, and get_peers (logged) as well as join.
  std::string raw =
      "{\"action\":\"get_peers\",\"peer_id\":\"a\xc2\x9b"
      "2J\",\"file_name\":\"f\"}";
  CHECK_THAT(send(t, raw), Catch::Contains("control characters"));
  CHECK(reg_peer_count(&t->reg) == 0);
  // U+00A0 and beyond are not control characters: accepted.
  CHECK(send(t, R"({"action":"join","peer_id":"caf\u00e9\u00a0","files":[],"tcp_port":1001})") ==
        R"({"status":"ok"})");
  delete t;
}

TEST_CASE("tracker: joins waiting for one probe are bounded: one per address, a few per probe",
          "[tracker]") {
  Tracker* t = keyed_tracker();
  send(t, join_of("h", 1000), "127.0.0.1", 4000);
  std::string j = join_of("h", 2000, big_files(40));
  std::string probe_id;
  CHECK(handle_at(t, j, "127.0.0.9", 5000, &probe_id) == TRACKER_PROBE);
  CHECK(probe_id == "h");
  // A retransmission from the same address waits with the first, not beside it.
  for (int i = 0; i < 100; i++)
    CHECK(handle_at(t, j, "127.0.0.9", 5000) == TRACKER_WAIT);
  CHECK(t->waiting["h"].waiters.size() == 1);
  for (size_t i = 1; i < kMaxProbeWaiters; i++)
    CHECK(handle_at(t, j, "127.0.0.9", 5000 + static_cast<int>(i)) == TRACKER_WAIT);
  // The rest are answered at once, and nothing more is kept.
  for (int i = 0; i < 1000; i++) {
    REQUIRE(handle_at(t, j, "127.0.0.9", 6000 + i) == TRACKER_ANSWER);
    REQUIRE_THAT(t->answer, Catch::Contains("checking whether the holder of peer id h is alive; "
                                            "try again in a moment"));
  }
  CHECK(t->waiting["h"].waiters.size() == kMaxProbeWaiters);
  CHECK(t->waiting_bytes == kMaxProbeWaiters * j.size());
  // The verdict hands them back, and the books are empty again.
  std::vector<Waiter> back;
  tracker_probe_result(t, "h", PROBE_ALIVE, &back);
  CHECK(back.size() == kMaxProbeWaiters);
  CHECK(t->waiting.empty());
  CHECK(t->waiting_bytes == 0);
  CHECK(t->probe_targets.empty());
  CHECK(t->probe_senders.empty());
  delete t;
}

TEST_CASE("tracker: datagrams waiting for probes are bounded in bytes, all probes together",
          "[tracker]") {
  Tracker* t = keyed_tracker();
  std::string big = big_files(70);
  int waiting = 0, refused = 0;
  for (int i = 0; i < 200; i++) {
    std::string id = "h" + std::to_string(i);
    t->now = 0;
    send(t, join_of(id, 10000 + i), ("127.0.0." + std::to_string(1 + i % 200)).c_str(), 4000);
    std::string j = join_of(id, 20000 + i, big);
    int r = handle_at(t, j, ("127.1.0." + std::to_string(i % 250)).c_str(), 5000);
    if (r == TRACKER_PROBE) waiting++;
    if (r == TRACKER_ANSWER) refused++;
  }
  CHECK(t->waiting_bytes <= kMaxWaitingBytes);
  CHECK(waiting > 0);
  CHECK(refused > 0);
  delete t;
}

TEST_CASE("tracker: probes are limited per sender and per target", "[tracker]") {
  Tracker* t = keyed_tracker();
  for (int i = 0; i < 40; i++)
    send(t, join_of("p" + std::to_string(i), 10000 + i), "127.0.0.1", 4000 + i);
  int started = 0;
  for (int i = 0; i < 40; i++) {
    int r = handle_at(t, join_of("p" + std::to_string(i), 30000), "127.0.0.66", 5000);
    if (r == TRACKER_PROBE) started++;
    if (r == TRACKER_ANSWER) CHECK_THAT(t->answer, Catch::Contains("too many liveness checks"));
  }
  CHECK(started == kMaxProbesPerSender);
  // Another sender still gets its probes.
  CHECK(handle_at(t, join_of("p39", 30001), "127.0.0.67", 5000) == TRACKER_PROBE);
  // Two ids at one address (ip and tcp port): one probe at a time for it.
  send(t, join_of("q1", 7777), "127.0.0.2", 4000);
  send(t, join_of("q2", 7777), "127.0.0.2", 4001);
  CHECK(tracker_probe_begin(t, "q1"));
  CHECK_FALSE(tracker_probe_begin(t, "q2"));
  CHECK_FALSE(tracker_probe_begin(t, "q1"));
  // The probe goes to the holder's own address (its join's source IP).
  CHECK(t->waiting["q1"].target ==
        (static_cast<uint64_t>(reg_find(&t->reg, "q1")->ip) << 16 | 7777));
  tracker_probe_result(t, "q1", PROBE_ALIVE);
  CHECK(tracker_probe_begin(t, "q2"));
  delete t;
}

TEST_CASE("tracker: one probe timeout does not delist; a second, later one does", "[tracker]") {
  Tracker* t = keyed_tracker(9);
  send(t, join_of("s", 1000), "127.0.0.1", 4000);
  t->now = 3000;
  tracker_probe_result(t, "s", PROBE_TIMEOUT);
  CHECK(reg_find(&t->reg, "s") != nullptr);
  t->now = 3000 + kProbeRetryMs / 2;  // too soon to count as a second failure
  tracker_probe_result(t, "s", PROBE_TIMEOUT);
  CHECK(reg_find(&t->reg, "s") != nullptr);
  SECTION("an answer in between clears the first") {
    tracker_probe_result(t, "s", PROBE_ALIVE);
    t->now = 3000 + 2 * kProbeRetryMs;
    tracker_probe_result(t, "s", PROBE_TIMEOUT);
    CHECK(reg_find(&t->reg, "s") != nullptr);
  }
  SECTION("the second timeout, kProbeRetryMs later, removes it") {
    t->now = 3000 + kProbeRetryMs;
    tracker_probe_result(t, "s", PROBE_TIMEOUT);
    CHECK(reg_find(&t->reg, "s") == nullptr);
  }
  SECTION("a refused connection removes it at once") {
    send(t, join_of("r", 1001), "127.0.0.1", 4001);
    tracker_probe_result(t, "r", PROBE_REFUSED);
    CHECK(reg_find(&t->reg, "r") == nullptr);
  }
  delete t;
}

TEST_CASE("tracker: 1000 live seed peers all stay listed, though 256 probes run at a time",
          "[tracker]") {
  // At --peer-ttl 90 a seed peer is due 30 s after its last probe and the sweep
  // comes every 10 s with at most 256 probes at once. A sweep that skipped the
  // rest in slot order would, with a loop running a little late, probe the
  // first 768 again and again and let the last 232 time out; the sweep waits
  // for free probes where it stands instead.
  Tracker* t = keyed_tracker(90);
  for (int i = 0; i < 1000; i++)
    send(t, join_of("s" + std::to_string(i), 10000 + i), "127.0.0.1", 4000 + i);
  size_t most = 0;
  int64_t end = 300 * 1000;
  while (t->now < end) {
    std::vector<std::string> start;
    int next = tracker_sweep(t, &start);
    most = std::max(most, t->waiting.size());
    t->now += 1;
    for (const std::string& id : start)  // every probe finds its peer alive, 1 ms later
      tracker_probe_result(t, id, PROBE_ALIVE);
    t->now += next == 10 || next == 1 ? next - 1 : next + 6;  // the timer fires a little late
  }
  CHECK(most == static_cast<size_t>(kMaxProbes));
  CHECK(reg_peer_count(&t->reg) == 1000);
  delete t;
}

TEST_CASE("tracker: a tt peer's id moves only with its token or from its own socket", "[tracker]") {
  Tracker* t = keyed_tracker();
  std::string tok = xjoin(t, "v", 1007, 4000);
  std::string j = R"({"action":"join","v":1,"seq":1,"peer_id":"v","files":[],"tcp_port":1007})";
  std::string probe_id;
  // The victim's IP and public TCP port, another UDP port, no token: a probe first.
  CHECK(handle_at(t, j, "127.0.0.1", 4666, &probe_id) == TRACKER_PROBE);
  CHECK(probe_id == "v");
  CHECK(reg_find(&t->reg, "v")->udp_port == 4000);
  SECTION("the holder answers: the id stays, the sender is refused") {
    std::vector<Waiter> back;
    tracker_probe_result(t, "v", PROBE_ALIVE, &back);
    REQUIRE(back.size() == 1);
    CHECK(handle_at(t, back[0].datagram, "127.0.0.1", 4666) == TRACKER_ANSWER);
    CHECK_THAT(t->answer, Catch::Contains("held by a live peer"));
    CHECK(reg_find(&t->reg, "v")->udp_port == 4000);
    CHECK_THAT(send(t, R"({"action":"leave","peer_id":"v"})", "127.0.0.1", 4666),
               Catch::Contains("belongs to another address"));
  }
  SECTION("the holder is gone: the id moves") {
    tracker_probe_result(t, "v", PROBE_REFUSED);
    CHECK(handle_at(t, j, "127.0.0.1", 4666) == TRACKER_ANSWER);
    CHECK(parse(t->answer)["status"] == "ok");
    CHECK(reg_find(&t->reg, "v")->udp_port == 4666);
  }
  SECTION("with its token it moves at once (its UDP socket changed)") {
    t->waiting.clear();
    std::string jt = R"({"action":"join","v":1,"seq":1,"peer_id":"v","files":[],"tcp_port":1007,)"
                     R"("token":")" +
                     tok + "\"}";
    CHECK(handle_at(t, jt, "127.0.0.1", 4001) == TRACKER_ANSWER);
    CHECK(parse(t->answer)["status"] == "ok");
    CHECK(reg_find(&t->reg, "v")->udp_port == 4001);
  }
  SECTION("a retransmitted join from the very socket that joined is answered") {
    CHECK(handle_at(t, j, "127.0.0.1", 4000) == TRACKER_ANSWER);
    CHECK(parse(t->answer)["token"] == rapidjson::StringRef(tok.c_str()));
  }
  delete t;
}

TEST_CASE("tracker: a seed holder (no token) is the same process at its IP and TCP port",
          "[tracker]") {
  Tracker* t = keyed_tracker();
  send(t, join_of("z", 1009), "127.0.0.1", 4000);
  CHECK(send(t, join_of("z", 1009, "\"more\""), "127.0.0.1", 4001) == R"({"status":"ok"})");
  CHECK(reg_find(&t->reg, "z")->udp_port == 4001);
  delete t;
}

TEST_CASE("tracker: --max-ids-per-ip and --max-files-per-ip bound one address", "[tracker]") {
  Tracker* t = keyed_tracker();
  t->opt.max_ids_per_ip = 3;
  t->reg.max_files_per_ip = 5;
  for (int i = 0; i < 3; i++)
    CHECK(send(t, join_of("a" + std::to_string(i), 1000 + i), "127.0.0.1", 4000 + i) ==
          R"({"status":"ok"})");
  CHECK(
      send(t, join_of("a3", 1003), "127.0.0.1", 4003) ==
      R"({"status":"error","message":"too many peer ids from 127.0.0.1 (the limit is 3); try again later"})");
  CHECK(reg_peer_count(&t->reg) == 3);
  // Someone else is not refused, and a rejoin of a held id is not a new id.
  CHECK(send(t, join_of("b0", 1000), "127.0.0.2", 4000) == R"({"status":"ok"})");
  CHECK(send(t, join_of("a0", 1000), "127.0.0.1", 4000) == R"({"status":"ok"})");
  // A leave frees a place.
  send(t, R"({"action":"leave","peer_id":"a2"})", "127.0.0.1", 4002);
  CHECK(send(t, join_of("a3", 1003), "127.0.0.1", 4003) == R"({"status":"ok"})");
  CHECK(reg_ip_count(&t->reg, reg_find(&t->reg, "a3")->ip).ids == 3);
  // Files: 5 registrations at most, a join that would pass it changes nothing.
  CHECK(send(t, join_of("a0", 1000, R"("f1","f2","f3")"), "127.0.0.1", 4000) ==
        R"({"status":"ok"})");
  CHECK(
      send(t, join_of("a1", 1001, R"("f1","f2","f3")"), "127.0.0.1", 4001) ==
      R"({"status":"error","message":"too many files registered from 127.0.0.1 (at most 5 per address, 65536 per peer id, 4000000 in all); nothing was changed"})");
  CHECK(reg_peer_files(&t->reg, "a1").empty());
  CHECK(send(t, join_of("a0", 1000, R"("f1","f2","f3")"), "127.0.0.1", 4000) ==
        R"({"status":"ok"})");  // nothing new: not refused
  CHECK(send(t, R"({"action":"share_file","peer_id":"a1","file":"g1"})", "127.0.0.1", 4001) ==
        R"({"status":"ok"})");
  CHECK(send(t, R"({"action":"share_file","peer_id":"a1","file":"g2"})", "127.0.0.1", 4001) ==
        R"({"status":"ok"})");
  CHECK_THAT(send(t, R"({"action":"share_file","peer_id":"a1","file":"g3"})", "127.0.0.1", 4001),
             Catch::Contains("too many files registered"));
  CHECK(reg_ip_count(&t->reg, reg_find(&t->reg, "a1")->ip).files == 5);
  // Timed out, the counts go back to nothing.
  t->now = 100000;
  tracker_expire(t);
  CHECK(t->reg.per_ip.empty());
  delete t;
}

TEST_CASE("tracker: the sweep works through a big table a step at a time", "[tracker]") {
  Tracker* t = keyed_tracker(3);
  t->opt.max_ids_per_ip = 100000;
  for (int i = 0; i < 40000; i++)
    send(t, join_of("e" + std::to_string(i), 1000 + i % 50000), "127.0.0.1", 4000);
  REQUIRE(reg_peer_count(&t->reg) == 40000);
  t->now = 10000;  // all of them past their ttl
  CHECK_FALSE(tracker_sweep_step(t, 16384, nullptr));
  CHECK(reg_peer_count(&t->reg) == 40000 - 16384);
  CHECK_FALSE(tracker_sweep_step(t, 16384, nullptr));
  CHECK(tracker_sweep_step(t, 16384, nullptr));
  CHECK(reg_peer_count(&t->reg) == 0);
  delete t;
}

/* ---- list ---------------------------------------------------------------- */

// A proven lister: peer "L" joined with "v":1 from 127.0.0.1:5000, sharing nothing.
struct Lister {
  Tracker* t;
  std::string token;
  int seq = 1;
};

static Lister lister(Tracker* t) {
  Lister l{t, ""};
  rapidjson::Document d =
      parse(send(t, R"({"action":"join","v":1,"seq":1,"peer_id":"L","files":[],"tcp_port":5001})",
                 "127.0.0.1", 5000));
  REQUIRE(d["status"] == "ok");
  l.token = d["token"].GetString();
  return l;
}

// A list request from the lister, with its token; extra: more fields (",\"limit\":2").
static std::string ask_list(Lister* l, const std::string& extra) {
  return send(l->t,
              R"({"action":"list","v":1,"seq":)" + std::to_string(++l->seq) +
                  R"(,"peer_id":"L","token":")" + l->token + "\"" + extra + "}",
              "127.0.0.1", 5000);
}

TEST_CASE("tracker: list pages through every (name, content)", "[tracker]") {
  Tracker* t = keyed_tracker(600);
  std::string files;
  for (int i = 0; i < 120; i++)
    files += std::string(i ? "," : "") + "\"file" + std::to_string(i) + "\"";
  send(t, R"({"action":"join","peer_id":"1","files":[)" + files + R"(],"tcp_port":1001})");
  Lister l = lister(t);
  std::set<std::string> seen;
  uint64_t cursor = 0;
  int pages = 0;
  do {
    std::string a = ask_list(&l, R"(,"cursor":)" + std::to_string(cursor));
    CHECK(a.size() <= kMaxAnswerBytes);
    ProtoAnswer ans;
    std::string err;
    REQUIRE(proto_decode_answer(a.data(), a.size(), &ans, &err) == 0);
    REQUIRE(ans.ok);
    CHECK(ans.total == 120);
    CHECK(ans.files.size() <= static_cast<size_t>(kDefaultListRows));
    for (const ProtoListRow& r : ans.files) {
      CHECK(seen.insert(r.name).second);
      CHECK(r.holders == 1);
      CHECK(r.complete == 1);
    }
    cursor = ans.next;
    REQUIRE(++pages < 100);
  } while (cursor != 0);
  CHECK(seen.size() == 120);
  CHECK(pages == 3);  // 50, 50 and 20 rows
  // A limit is a most; more than kMaxListRows is kMaxListRows.
  std::string a = ask_list(&l, R"(,"limit":2)");
  ProtoAnswer ans;
  std::string err;
  REQUIRE(proto_decode_answer(a.data(), a.size(), &ans, &err) == 0);
  CHECK(ans.files.size() == 2);
  CHECK(ans.next != 0);
  delete t;
}

TEST_CASE("tracker: a list answer fits its size with long names", "[tracker]") {
  Tracker* t = keyed_tracker(600);
  // Names of 253 bytes: 80 rows do not fit in one answer.
  std::string join = R"({"action":"join","peer_id":"1","files":[)";
  for (int i = 0; i < 80; i++)
    join +=
        std::string(i ? "," : "") + "\"" + std::string(250, 'q') + std::to_string(i + 100) + "\"";
  send(t, join + R"(],"tcp_port":1001})");
  Lister l = lister(t);
  std::set<std::string> seen;
  uint64_t cursor = 0;
  int pages = 0;
  do {
    std::string a = ask_list(&l, R"(,"limit":200,"cursor":)" + std::to_string(cursor));
    CHECK(a.size() <= kMaxAnswerBytes);
    ProtoAnswer ans;
    std::string err;
    REQUIRE(proto_decode_answer(a.data(), a.size(), &ans, &err) == 0);
    CHECK(!ans.files.empty());
    for (const ProtoListRow& r : ans.files)
      CHECK(seen.insert(r.name).second);
    cursor = ans.next;
    REQUIRE(++pages < 100);
  } while (cursor != 0);
  CHECK(seen.size() == 80);
  CHECK(pages > 1);
  delete t;
}

TEST_CASE("tracker: list answers rows only to a peer that shows its token", "[tracker]") {
  Tracker* t = keyed_tracker(600);
  send(t, R"({"action":"join","peer_id":"1","files":["a","b"],"tcp_port":1001})");
  Lister l = lister(t);
  auto refused = [](const std::string& a) {
    return a.find(R"("status":"error")") != std::string::npos &&
           a.find(R"("files")") == std::string::npos;
  };
  // Anyone, a seed-form peer, the right token from another address, a wrong token.
  CHECK(refused(send(t, R"({"action":"list"})")));
  CHECK(refused(send(t, R"({"action":"list","peer_id":"1"})")));
  CHECK(
      refused(send(t, R"({"action":"list","v":1,"seq":5,"peer_id":"L","token":")" + l.token + "\"}",
                   "127.0.0.2", 5000)));
  CHECK(refused(
      send(t, R"({"action":"list","v":1,"seq":5,"peer_id":"L","token":"00"})", "127.0.0.1", 5000)));
  // Every refusal is shorter than a short request's answer could be.
  CHECK(send(t, R"({"action":"list"})").size() < 128);
  std::string ok = ask_list(&l, "");
  CHECK(ok.find(R"("status":"ok")") != std::string::npos);
  CHECK(ok.find(R"("name":"a")") != std::string::npos);
  delete t;
}

TEST_CASE("tracker: malformed list requests get an error and change nothing", "[tracker]") {
  Tracker* t = keyed_tracker(600);
  send(t, R"({"action":"join","peer_id":"1","files":["a"],"tcp_port":1001})");
  Lister l = lister(t);
  for (const char* b : {R"(,"cursor":-1)", R"(,"limit":0)", R"(,"cursor":"x")"}) {
    INFO(b);
    std::string a = ask_list(&l, b);
    CHECK(a.find(R"("status":"error")") != std::string::npos);
  }
  // A cursor from nowhere is the end of the list.
  rapidjson::Document d = parse(ask_list(&l, R"(,"cursor":999999999999)"));
  CHECK(d["status"] == "ok");
  CHECK(d["files"].Size() == 0);
  CHECK(d["next"] == 0);
  CHECK(d["total"] == 1);
  CHECK(reg_file_count(&t->reg) == 1);
  delete t;
}
