// tracker: whole datagrams in, answers out, through tracker_handle (no sockets).
#include <catch2/catch.hpp>

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
  CHECK(t->reg.peers.empty());
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
  REQUIRE(t->reg.peers.size() == 1);
  CHECK(t->reg.peers["1"].files == std::vector<std::string>{"a"});
  CHECK(t->reg.holders.size() == 1);
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
