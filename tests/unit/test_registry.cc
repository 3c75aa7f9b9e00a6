// registry: the tracker's state changes, as sets, with liveness and ownership.
#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "proto.h"
#include "registry.h"

static const std::string kByName;  // no content id: get_peers by name

static std::vector<int> ports(Registry& reg, const std::string& file,
                              const std::string& exclude = "", int64_t now = 0,
                              size_t want = 1000) {
  std::vector<ProtoSourceRef> out;
  reg_sources(&reg, RegAsk{file, kByName, reg_slot(&reg, exclude), want}, now, &out, nullptr);
  std::vector<int> r;
  for (const ProtoSourceRef& s : out)
    r.push_back(s.port);
  return r;
}

static uint32_t ipv4(const char* text) {
  uint32_t ip = 0;
  REQUIRE(inet_pton(AF_INET, text, &ip) == 1);
  return ip;
}

// A join from `ip`, UDP port `udp_port`, listed with the blob the tracker makes.
static int join_from(Registry& reg, const std::string& id, const char* ip, int port, int udp_port,
                     const std::vector<std::string>& files, bool extended, int64_t now) {
  std::string blob;
  proto_source_blob(id, ipv4(ip), port, &blob);
  return reg_join(&reg, RegJoin{id, ipv4(ip), port, udp_port, files, extended, blob}, now);
}

static int join(Registry& reg, const char* id, int port, std::vector<std::string> files = {},
                int64_t now = 0, const char* ip = "127.0.0.1") {
  return join_from(reg, id, ip, port, 5000, files, false, now);
}

// Announces a copy of `file` at peer `id`.
static int add_copy(Registry& reg, const std::string& id, const std::string& file,
                    bool complete = true, int64_t size = -1, const std::string& cid = "",
                    int64_t now = 0) {
  return reg_add_file(&reg, id, RegCopy{file, cid, size, complete}, now);
}

TEST_CASE("registry: join registers every listed file", "[registry]") {
  Registry reg;
  CHECK(join(reg, "1", 1001, {"a", "b"}) == REG_OK);
  CHECK(join(reg, "2", 1002, {"b"}) == REG_OK);
  CHECK(ports(reg, "a") == std::vector<int>{1001});
  CHECK(ports(reg, "b") == std::vector<int>{1001, 1002});
}

TEST_CASE("registry: repeating a request changes nothing", "[registry]") {
  Registry reg;
  join(reg, "1", 1001, {"a"});
  CHECK(join(reg, "1", 1001, {"a"}) == REG_UNCHANGED);
  CHECK(add_copy(reg, "1", "a") == REG_UNCHANGED);
  CHECK(add_copy(reg, "1", "b") == REG_OK);
  CHECK(add_copy(reg, "1", "b") == REG_UNCHANGED);
  CHECK(ports(reg, "a") == std::vector<int>{1001});
  CHECK(reg_find(&reg, "1")->files.size() == 2);
}

TEST_CASE("registry: unknown peers cannot share or leave", "[registry]") {
  Registry reg;
  CHECK(add_copy(reg, "9", "a") == REG_ENOPEER);
  CHECK(reg_leave(&reg, "9") == REG_ENOPEER);
  CHECK(reg_file_count(&reg) == 0);
}

TEST_CASE("registry: leave forgets the peer and its files", "[registry]") {
  Registry reg;
  join(reg, "1", 1001, {"a", "b"});
  join(reg, "2", 1002, {"a"});
  CHECK(reg_leave(&reg, "1") == REG_OK);
  CHECK(reg_find(&reg, "1") == nullptr);
  CHECK(ports(reg, "a") == std::vector<int>{1002});
  CHECK(ports(reg, "b").empty());
  CHECK(!reg_has_file(&reg, "b"));
}

TEST_CASE("registry: a live holder keeps its id against another address", "[registry]") {
  Registry reg;
  reg.ttl_ms = 1000;
  join(reg, "1", 1001, {"a"}, 0);
  CHECK(join(reg, "1", 2001, {}, 500) == REG_CONFLICT);
  CHECK(join(reg, "1", 1001, {}, 500, "10.0.0.9") == REG_CONFLICT);
  CHECK(reg_find(&reg, "1")->tcp_port == 1001);
  CHECK(ports(reg, "a", "", 500) == std::vector<int>{1001});
}

TEST_CASE("registry: a dead holder's id is taken over, its files forgotten", "[registry]") {
  Registry reg;
  reg.ttl_ms = 1000;
  join(reg, "1", 1001, {"a"}, 0);
  CHECK(join(reg, "1", 2001, {"b"}, 1500) == REG_OK);
  CHECK(reg_find(&reg, "1")->tcp_port == 2001);
  CHECK(ports(reg, "a", "", 1500).empty());
  CHECK(ports(reg, "b", "", 1500) == std::vector<int>{2001});
}

TEST_CASE("registry: silent peers vanish from answers at once (the tracker's sweep removes them)",
          "[registry]") {
  Registry reg;
  reg.ttl_ms = 1000;
  join(reg, "1", 1001, {"a"}, 0);
  join(reg, "2", 1002, {"a"}, 0);
  reg_touch(&reg, "2", 900);
  CHECK(ports(reg, "a", "", 1500) == std::vector<int>{1002});
  CHECK(reg_peer_count(&reg) == 2);
  CHECK_FALSE(reg_is_alive(&reg, *reg_find(&reg, "1"), 1500));
  CHECK(reg_is_alive(&reg, *reg_find(&reg, "2"), 1500));
}

TEST_CASE("registry: a touch by slot hint lands on the id, whatever the hint", "[registry]") {
  Registry reg;
  join(reg, "1", 1001, {}, 0);
  join(reg, "2", 1002, {}, 0);
  uint32_t s1 = reg_slot(&reg, "1"), s2 = reg_slot(&reg, "2");
  reg_touch_hint(&reg, s1, "1", 100);  // the right slot
  CHECK(reg_find(&reg, "1")->last_seen == 100);
  reg_touch_hint(&reg, s2, "1", 200);  // another peer's slot: looked up instead
  CHECK(reg_find(&reg, "1")->last_seen == 200);
  CHECK(reg_find(&reg, "2")->last_seen == 0);
  reg_touch_hint(&reg, kRegNone, "2", 300);
  CHECK(reg_find(&reg, "2")->last_seen == 300);
  // The slot freed by a leave and taken by a new id: the hint is stale.
  REQUIRE(reg_leave(&reg, "1") == REG_OK);
  join(reg, "3", 1003, {}, 0);
  reg_touch_hint(&reg, s1, "1", 400);  // "1" is gone: nothing happens
  CHECK(reg_find(&reg, "1") == nullptr);
  CHECK(reg_find(&reg, "3")->last_seen == 0);
}

TEST_CASE("registry: sources leave out the asking peer", "[registry]") {
  Registry reg;
  join(reg, "1", 1001, {"a"});
  join(reg, "2", 1002, {"a"});
  CHECK(ports(reg, "a", "1") == std::vector<int>{1002});
  CHECK(ports(reg, "a", "3") == std::vector<int>{1001, 1002});
}

TEST_CASE("registry: more sources than wanted gives a random selection of distinct peers",
          "[registry]") {
  Registry reg;
  for (int i = 0; i < 100; i++)
    join(reg, std::to_string(i).c_str(), 1000 + i, {"a"});
  std::set<int> seen;
  for (int round = 0; round < 20; round++) {
    std::vector<int> got = ports(reg, "a", "", 0, 10);
    REQUIRE(got.size() == 10);
    CHECK(std::set<int>(got.begin(), got.end()).size() == 10);
    seen.insert(got.begin(), got.end());
  }
  CHECK(seen.size() > 50);  // 200 picks of 100: a fixed prefix would show only 10
}

TEST_CASE("registry: slots are reused and content ids are counted", "[registry]") {
  Registry reg;
  std::string cid1(64, '1'), cid2(64, '2');
  for (int round = 0; round < 3; round++) {
    join(reg, "1", 1001, {});
    join(reg, "2", 1002, {});
    CHECK(add_copy(reg, "1", "a", true, 10, cid1) == REG_OK);
    CHECK(add_copy(reg, "2", "a", true, 10, cid1) == REG_OK);
    CHECK(add_copy(reg, "2", "b", false, 20, cid2) == REG_OK);
    CHECK(reg.cid_ids.size() == 2);
    RegFileInfo info;
    std::vector<ProtoSourceRef> out;
    reg_sources(&reg, RegAsk{"b", kByName, kRegNone, 10}, 0, &out, &info);
    REQUIRE(out.size() == 1);
    CHECK(out[0].port == 1002);
    CHECK_FALSE(out[0].complete);
    CHECK(info.cid == cid2);
    CHECK(info.size == 20);
    // A new content id for the same copy replaces the old one.
    CHECK(add_copy(reg, "2", "b", true, 10, cid1) == REG_OK);
    CHECK(reg.cid_ids.size() == 1);
    CHECK(reg_peer_files(&reg, "2") == std::vector<std::string>{"a", "b"});
    CHECK(reg_leave(&reg, "1") == REG_OK);
    CHECK(reg_leave(&reg, "2") == REG_OK);
    CHECK(reg_peer_count(&reg) == 0);
    CHECK(reg_file_count(&reg) == 0);
    CHECK(reg.cid_ids.empty());
  }
  // Three rounds of two peers and two files used two slots of each.
  CHECK(reg.peers.size() == 2);
  CHECK(reg.files.size() == 2);
}

TEST_CASE("registry: a source's blob is kept whole, short in the record or long apart",
          "[registry]") {
  Registry reg;
  reg.ttl_ms = 1000;
  const std::string short_id = "s";
  const std::string long_id(60, '"');  // each escapes to 2 bytes: longer than kRegBlobInline
  auto expect_blob = [](const std::string& id, const char* ip, int port) {
    std::string b;
    proto_source_blob(id, ipv4(ip), port, &b);
    return b;
  };
  auto blobs = [&reg](int64_t now) {
    std::vector<ProtoSourceRef> out;
    reg_sources(&reg, RegAsk{"a", kByName, kRegNone, 10}, now, &out, nullptr);
    std::set<std::string> r;
    for (const ProtoSourceRef& s : out)
      r.insert(std::string(s.blob, s.len));
    return r;
  };
  REQUIRE(join(reg, short_id.c_str(), 1001, {"a"}) == REG_OK);
  REQUIRE(join(reg, long_id.c_str(), 65535, {"a"}, 0, "255.255.255.255") == REG_OK);
  std::string s = expect_blob(short_id, "127.0.0.1", 1001);
  std::string l = expect_blob(long_id, "255.255.255.255", 65535);
  REQUIRE(s.size() <= kRegBlobInline);
  REQUIRE(l.size() > kRegBlobInline);
  CHECK(blobs(0) == std::set<std::string>{s, l});
  // Both gone quiet; each joins again from another address: the blobs follow.
  REQUIRE(join(reg, short_id.c_str(), 2002, {"a"}, 5000, "10.0.0.1") == REG_OK);
  REQUIRE(join(reg, long_id.c_str(), 3003, {"a"}, 5000) == REG_OK);
  CHECK(blobs(5000) == std::set<std::string>{expect_blob(short_id, "10.0.0.1", 2002),
                                             expect_blob(long_id, "127.0.0.1", 3003)});
}

TEST_CASE("registry: blobs on both sides of the inline size are listed whole", "[registry]") {
  // Ids of every length up to the longest, plain and with every byte escaped
  // (6 bytes each): blob lengths from a few dozen bytes past the inline space
  // to the longest a peer id can make, crossing kRegBlobInline one by one.
  for (char c : {'x', '\x01'}) {
    Registry reg;
    std::set<std::string> want;
    bool at_inline = false;
    for (size_t n = 1; n <= kMaxPeerIdBytes; n++) {
      std::string id(n, c), blob;
      proto_source_blob(id, ipv4("255.255.255.255"), 65535, &blob);
      at_inline = at_inline || blob.size() == kRegBlobInline;
      want.insert(blob);
      REQUIRE(join_from(reg, id, "255.255.255.255", 65535, 5000, {"a"}, false, 0) == REG_OK);
    }
    if (c == 'x') CHECK(at_inline);
    std::vector<ProtoSourceRef> out;
    reg_sources(&reg, RegAsk{"a", kByName, kRegNone, 1000}, 0, &out, nullptr);
    std::set<std::string> got;
    for (const ProtoSourceRef& s : out)
      got.insert(std::string(s.blob, s.len));
    CHECK(got == want);
  }
}

TEST_CASE("registry: what a join stores is what an answer lists", "[registry]") {
  Registry reg;
  const std::string long_id(60, 'L');  // kept apart from the record
  REQUIRE(join(reg, "p\"1", 6881, {"f"}, 0, "10.200.3.45") == REG_OK);
  REQUIRE(join(reg, long_id.c_str(), 65535, {}, 0, "255.255.255.255") == REG_OK);
  REQUIRE(add_copy(reg, long_id, "f", false) == REG_OK);
  ProtoReply reply;
  reply.kind = ProtoReply::PEERS;
  reg_sources(&reg, RegAsk{"f", kByName, kRegNone, 10}, 0, &reply.sources, nullptr);
  REQUIRE(reply.sources.size() == 2);
  ProtoRequest req;
  std::string out;
  proto_encode_reply(reply, req, 65536, &out);
  CHECK(out == R"({"peers":[["10.200.3.45",6881]]})");
  req.extended = true;
  proto_encode_reply(reply, req, 65536, &out);
  CHECK(out == R"({"status":"ok","v":1,"peers":[["10.200.3.45",6881]],"sources":[)"
               R"({"peer_id":"p\"1","ip":"10.200.3.45","port":6881,"complete":true},)"
               R"({"peer_id":")" +
                   long_id + R"(","ip":"255.255.255.255","port":65535,"complete":false}]})");
}

/* ---- names are labels, content ids are identities ------------------------- */

TEST_CASE("registry: a name keeps every content shared under it", "[registry]") {
  Registry reg;
  std::string a(64, 'a'), b(64, 'b');
  join(reg, "squatter", 1001);
  join(reg, "publisher", 1002);
  join(reg, "mirror", 1003);
  CHECK(add_copy(reg, "squatter", "m", true, 10, a, 100) == REG_OK);
  CHECK(add_copy(reg, "publisher", "m", true, 20, b, 200) == REG_OK);
  CHECK(add_copy(reg, "mirror", "m", true, 20, b, 300) == REG_OK);
  CHECK(reg_other_contents(&reg, "m", b) == 1);
  CHECK(reg_other_contents(&reg, "m", a) == 1);
  RegFileInfo info;
  std::vector<ProtoSourceRef> out;
  // By name: the first announced content answers (what seed requests get), and
  // both are listed, most held first.
  reg_sources(&reg, RegAsk{"m", kByName, kRegNone, 10}, 0, &out, &info);
  CHECK(info.cid == a);
  CHECK(out.size() == 1);
  REQUIRE(info.contents.size() == 2);
  CHECK(info.contents_total == 2);
  CHECK(info.contents[0].cid == b);
  CHECK(info.contents[0].holders == 2);
  CHECK(info.contents[0].size == 20);
  CHECK(info.contents[0].first_seen == 200);
  CHECK(info.contents[1].cid == a);
  // By id or by prefix: that content only, named.
  for (const std::string& key : {b, b.substr(0, 8)}) {
    reg_sources(&reg, RegAsk{"whatever", key, kRegNone, 10}, 0, &out, &info);
    CHECK(info.cid == b);
    CHECK(info.size == 20);
    CHECK(info.name == "m");
    CHECK(info.contents.empty());
    CHECK(out.size() == 2);
  }
  // A prefix shorter than 8 digits is no id; an unknown one falls back to the name.
  reg_sources(&reg, RegAsk{"m", "bbbb", kRegNone, 10}, 0, &out, &info);
  CHECK(info.cid == a);
  reg_sources(&reg, RegAsk{"m", std::string(64, 'c'), kRegNone, 10}, 0, &out, &info);
  CHECK(info.cid == a);
  // The squatter leaves: one content, no list.
  reg_leave(&reg, "squatter");
  reg_sources(&reg, RegAsk{"m", kByName, kRegNone, 10}, 0, &out, &info);
  CHECK(info.cid == b);
  CHECK(info.contents.empty());
  CHECK(out.size() == 2);
}

TEST_CASE("registry: a prefix of several contents lists them and selects nobody", "[registry]") {
  Registry reg;
  join(reg, "1", 1001);
  std::string x = "deadbeef" + std::string(56, '0'), y = "deadbeef" + std::string(56, '1');
  add_copy(reg, "1", "x", true, 1, x, 5);
  add_copy(reg, "1", "y", true, 2, y, 6);
  RegFileInfo info;
  std::vector<ProtoSourceRef> out;
  reg_sources(&reg, RegAsk{"x", "deadbeef", kRegNone, 10}, 0, &out, &info);
  CHECK(out.empty());
  CHECK(info.cid.empty());
  REQUIRE(info.contents.size() == 2);
  CHECK(info.contents[0].cid == x);  // equally held: first seen first
  CHECK(info.contents[1].cid == y);
  reg_sources(&reg, RegAsk{"x", "deadbeef1", kRegNone, 10}, 0, &out, &info);
  CHECK(info.cid == y);
  CHECK(info.name == "y");
}

TEST_CASE("registry: a copy that announces another id moves to that content", "[registry]") {
  Registry reg;
  std::string a(64, 'a'), b(64, 'b');
  join(reg, "1", 1001, {"m"});  // a seed-style join: no id
  join(reg, "2", 1002);
  add_copy(reg, "2", "m", true, 5, a, 1);
  RegFileInfo info;
  std::vector<ProtoSourceRef> out;
  reg_sources(&reg, RegAsk{"m", kByName, kRegNone, 10}, 0, &out, &info);
  CHECK(info.cid == a);
  CHECK(out.size() == 2);  // holders with no id are listed with any content
  CHECK(add_copy(reg, "1", "m", true, 6, b, 2) == REG_OK);
  reg_sources(&reg, RegAsk{"m", kByName, kRegNone, 10}, 0, &out, &info);
  CHECK(info.contents.size() == 2);
  CHECK(out.size() == 1);
  CHECK(add_copy(reg, "1", "m", true, 5, a, 3) == REG_OK);
  reg_sources(&reg, RegAsk{"m", kByName, kRegNone, 10}, 0, &out, &info);
  CHECK(info.contents.empty());
  CHECK(out.size() == 2);
  CHECK(reg.cid_ids.size() == 1);
}

TEST_CASE("registry: get_peers reads a bounded number of holders", "[registry]") {
  Registry reg;
  for (int i = 0; i < 20000; i++)
    join(reg, std::to_string(i).c_str(), 1000 + i % 60000, {"popular"});
  std::vector<ProtoSourceRef> out;
  reg.holders_read = 0;
  reg_sources(&reg, RegAsk{"popular", kByName, kRegNone, 50}, 0, &out, nullptr);
  CHECK(out.size() == 50);
  CHECK(reg.holders_read <= 4 * 50 + 16);
  std::set<std::string> distinct;
  for (const ProtoSourceRef& s : out)
    distinct.insert(std::string(s.blob, s.len));
  CHECK(distinct.size() == 50);
  // Few holders: all of them, in registration order.
  join(reg, "solo", 999, {"rare"});
  CHECK(ports(reg, "rare") == std::vector<int>{999});
}

TEST_CASE("registry: caps on registrations per peer and per address", "[registry]") {
  Registry reg;
  reg.max_files_per_ip = 100;
  join(reg, "1", 1001, {}, 0, "10.0.0.1");
  join(reg, "2", 1002, {}, 0, "10.0.0.1");
  join(reg, "3", 1003, {}, 0, "10.0.0.2");
  for (int i = 0; i < 60; i++)
    CHECK(add_copy(reg, "1", "f" + std::to_string(i)) == REG_OK);
  for (int i = 0; i < 40; i++)
    CHECK(add_copy(reg, "2", "g" + std::to_string(i)) == REG_OK);
  // The address holds 100: one more is refused, and changes nothing.
  CHECK(add_copy(reg, "2", "one-more") == REG_FULL);
  CHECK(!reg_has_file(&reg, "one-more"));
  CHECK(join(reg, "2", 1002, {"x", "y"}, 0, "10.0.0.1") == REG_FULL);
  CHECK(!reg_has_file(&reg, "x"));
  CHECK(reg_find(&reg, "2")->files.size() == 40);
  // Repeating what is held is no new registration.
  CHECK(add_copy(reg, "2", "g1") == REG_UNCHANGED);
  CHECK(join(reg, "2", 1002, {"g1", "g2"}, 0, "10.0.0.1") == REG_UNCHANGED);
  // Another address is not affected.
  CHECK(add_copy(reg, "3", "f1") == REG_OK);
  // Leaving gives the room back.
  reg_leave(&reg, "1");
  CHECK(add_copy(reg, "2", "one-more") == REG_OK);
  CHECK(reg.registrations == 42);
}

TEST_CASE("registry: one peer holds at most kMaxFilesPerPeer names", "[registry]") {
  Registry reg;
  join(reg, "1", 1001);
  std::vector<std::string> batch;
  for (size_t i = 0; i < kMaxFilesPerPeer; i++) {
    batch.push_back("n" + std::to_string(i));
    if (batch.size() == kMaxJoinFiles) {
      CHECK(join(reg, "1", 1001, batch) == REG_OK);
      batch.clear();
    }
  }
  CHECK(reg_find(&reg, "1")->files.size() == kMaxFilesPerPeer);
  CHECK(add_copy(reg, "1", "too-many") == REG_FULL);
  CHECK(add_copy(reg, "1", "n7") == REG_UNCHANGED);
}

TEST_CASE("registry: one address introduces at most max_contents_per_ip contents per name",
          "[registry]") {
  Registry reg;
  reg.max_contents_per_ip = 2;
  join(reg, "s1", 1001, {}, 0, "10.0.0.1");
  join(reg, "s2", 1002, {}, 0, "10.0.0.1");
  join(reg, "s3", 1003, {}, 0, "10.0.0.1");
  join(reg, "pub", 1004, {}, 0, "10.0.0.2");
  auto cid = [](char c) { return std::string(64, c); };
  CHECK(add_copy(reg, "s1", "m", true, 1, cid('1')) == REG_OK);
  CHECK(add_copy(reg, "s2", "m", true, 1, cid('2')) == REG_OK);
  // A third content from the same address is refused, and changes nothing...
  CHECK(add_copy(reg, "s3", "m", true, 1, cid('3')) == REG_CROWDED);
  CHECK(reg_find(&reg, "s3")->files.empty());
  CHECK(reg.cid_ids.count(cid('3')) == 0);
  // ... as is moving a copy to a third content; joining a content already there is not.
  CHECK(add_copy(reg, "s3", "m", true, 1, cid('1')) == REG_OK);
  CHECK(add_copy(reg, "s1", "m", true, 1, cid('3')) == REG_CROWDED);
  // The last holder of a content moving to another leaves its place free.
  CHECK(add_copy(reg, "s2", "m", true, 1, cid('4')) == REG_OK);
  CHECK(reg.cid_ids.count(cid('2')) == 0);
  // Another address is not affected.
  CHECK(add_copy(reg, "pub", "m", true, 1, cid('9')) == REG_OK);
  RegFileInfo info;
  std::vector<ProtoSourceRef> out;
  reg_sources(&reg, RegAsk{"m", kByName, kRegNone, 10}, 0, &out, &info);
  CHECK(info.contents_total == 3);
}

TEST_CASE("registry: a restarted tt peer holds only what its join lists", "[registry]") {
  Registry reg;
  CHECK(join_from(reg, "r", "127.0.0.1", 7000, 5001, {"old"}, true, 0) == REG_OK);
  // The same address from the same UDP port (a retransmission): nothing is dropped.
  CHECK(join_from(reg, "r", "127.0.0.1", 7000, 5001, {}, true, 1) == REG_UNCHANGED);
  CHECK(reg_peer_files(&reg, "r") == std::vector<std::string>{"old"});
  // Another UDP port: a new process (it showed the token to get here).
  CHECK(join_from(reg, "r", "127.0.0.1", 7000, 5002, {"new"}, true, 2) == REG_OK);
  CHECK(reg_peer_files(&reg, "r") == std::vector<std::string>{"new"});
  CHECK(!reg_has_file(&reg, "old"));
  CHECK(reg.registrations == 1);
  // A seed-form join for the id does not make it tokenless.
  CHECK(join_from(reg, "r", "127.0.0.1", 7000, 5002, {}, false, 3) == REG_UNCHANGED);
  CHECK(reg_find(&reg, "r")->extended);
}

TEST_CASE("registry: a content found by id lists each peer once", "[registry]") {
  Registry reg;
  std::string x(64, 'e');
  join(reg, "1", 1001);
  join(reg, "2", 1002);
  for (const char* name : {"a", "b", "c"}) {
    add_copy(reg, "1", name, true, 5, x);
    add_copy(reg, "2", name, true, 5, x);
  }
  std::vector<ProtoSourceRef> out;
  reg_sources(&reg, RegAsk{"a", x, kRegNone, 10}, 0, &out, nullptr);
  CHECK(out.size() == 2);
}

TEST_CASE("registry: a content id has the size it was first announced with", "[registry]") {
  Registry reg;
  std::string a(64, 'a');
  join(reg, "pub", 1001);
  join(reg, "liar", 1002);
  CHECK(add_copy(reg, "pub", "m", true, 1000, a) == REG_OK);
  // Another size for the same id is refused, under any name, and changes nothing.
  CHECK(add_copy(reg, "liar", "m", true, 5, a) == REG_MISMATCH);
  CHECK(add_copy(reg, "liar", "other", true, 5, a) == REG_MISMATCH);
  CHECK(reg_find(&reg, "liar")->files.empty());
  CHECK(add_copy(reg, "liar", "m", false, -1, a) == REG_OK);  // no size: no contradiction
  RegFileInfo info;
  std::vector<ProtoSourceRef> out;
  reg_sources(&reg, RegAsk{"m", kByName, kRegNone, 10}, 0, &out, &info);
  CHECK(info.size == 1000);
  // Once every holder is gone the id is forgotten, size and all.
  reg_leave(&reg, "pub");
  reg_leave(&reg, "liar");
  CHECK(reg.cid_ids.empty());
  join(reg, "again", 1003);
  CHECK(add_copy(reg, "again", "m", true, 5, a) == REG_OK);
  // First announced without a size: the first size given later binds it.
  std::string b(64, 'b');
  join(reg, "quiet", 1004);
  CHECK(add_copy(reg, "quiet", "q", true, -1, b) == REG_OK);
  CHECK(add_copy(reg, "quiet", "q", true, 7, b) == REG_OK);
  CHECK(add_copy(reg, "again", "q", true, 9, b) == REG_MISMATCH);
}

/* ---- reg_list_files ------------------------------------------------------ */

// Every row, page by page, `limit` at a time; the pages seen in *pages.
static std::vector<RegFileRow> list_all(const Registry& reg, size_t limit,
                                        size_t* pages = nullptr) {
  std::vector<RegFileRow> all, page;
  uint64_t cursor = 0;
  size_t n = 0;
  do {
    reg_list_files(&reg, &cursor, limit, &page);
    CHECK(page.size() <= limit);
    all.insert(all.end(), page.begin(), page.end());
    n++;
    REQUIRE(n < 100000);  // it ends
  } while (cursor != 0);
  if (pages != nullptr) *pages = n;
  return all;
}

static const std::string kCidA(64, 'a'), kCidB(64, 'b');

TEST_CASE("registry: a listing has every (name, content) once, with its counts", "[registry]") {
  Registry reg;
  REQUIRE(join(reg, "1", 1001, {}) == REG_OK);
  REQUIRE(join(reg, "2", 1002, {}) == REG_OK);
  REQUIRE(join(reg, "3", 1003, {"seed.txt"}) == REG_OK);  // a seed peer: no id, no size
  REQUIRE(add_copy(reg, "1", "a.bin", true, 10, kCidA, 5) == REG_OK);
  REQUIRE(add_copy(reg, "2", "a.bin", false, 10, kCidA, 6) == REG_OK);
  REQUIRE(add_copy(reg, "2", "two.bin", true, 20, kCidB, 7) == REG_OK);
  REQUIRE(add_copy(reg, "1", "two.bin", true, 10, kCidA, 8) == REG_OK);
  for (size_t limit : {1, 2, 3, 50}) {
    std::vector<RegFileRow> rows = list_all(reg, limit);
    REQUIRE(rows.size() == 4);
    std::map<std::pair<std::string, std::string>, RegFileRow> by;
    for (const RegFileRow& r : rows)
      by[{r.name, r.cid}] = r;
    REQUIRE(by.size() == 4);  // none twice
    const RegFileRow& a = by[{"a.bin", kCidA}];
    CHECK(a.size == 10);
    CHECK(a.holders == 2);
    CHECK(a.complete == 1);
    CHECK(a.first_seen == 5);
    CHECK(by[{"two.bin", kCidB}].size == 20);
    CHECK(by[{"two.bin", kCidA}].holders == 1);
    const RegFileRow& s = by[{"seed.txt", ""}];
    CHECK(s.size == -1);
    CHECK(s.holders == 1);
    CHECK(s.complete == 1);
  }
  // A partial copy that completes, and one that leaves, change the counts.
  REQUIRE(add_copy(reg, "2", "a.bin", true, 10, kCidA, 9) == REG_OK);
  for (const RegFileRow& r : list_all(reg, 50))
    if (r.name == "a.bin") CHECK(r.complete == 2);
  REQUIRE(reg_leave(&reg, "1") == REG_OK);
  std::vector<RegFileRow> rows = list_all(reg, 50);
  CHECK(rows.size() == 3);  // two.bin's content A went with its only holder
  for (const RegFileRow& r : rows)
    if (r.name == "a.bin") CHECK((r.holders == 1 && r.complete == 1));
}

TEST_CASE("registry: a listing's pages respect the limit and end with cursor 0", "[registry]") {
  Registry reg;
  std::vector<std::string> names;
  for (int i = 0; i < 120; i++)
    names.push_back("f" + std::to_string(i));
  REQUIRE(join(reg, "1", 1001, names) == REG_OK);
  size_t pages = 0;
  std::vector<RegFileRow> rows = list_all(reg, 50, &pages);
  CHECK(pages == 3);
  std::set<std::string> seen;
  for (const RegFileRow& r : rows)
    seen.insert(r.name);
  CHECK(seen == std::set<std::string>(names.begin(), names.end()));
  CHECK(rows.size() == 120);
  // Exactly full pages: the last one already says there is no more.
  list_all(reg, 40, &pages);
  CHECK(pages == 3);
  std::vector<RegFileRow> page;
  uint64_t cursor = 0;
  reg_list_files(&reg, &cursor, 0, &page);
  CHECK(page.empty());
  // An empty registry, and a cursor from nowhere, end at once.
  Registry empty;
  cursor = 0;
  reg_list_files(&empty, &cursor, 10, &page);
  CHECK((page.empty() && cursor == 0));
  cursor = UINT64_MAX;
  reg_list_files(&reg, &cursor, 10, &page);
  CHECK((page.empty() && cursor == 0));
  cursor = 12345;  // an index past the name's contents: the next name
  reg_list_files(&reg, &cursor, 10, &page);
  CHECK(page.size() == 10);
}

TEST_CASE("registry: files removed between pages are not listed, nothing loops", "[registry]") {
  Registry reg;
  for (int p = 0; p < 20; p++) {
    std::vector<std::string> names;
    for (int i = 0; i < 10; i++)
      names.push_back("p" + std::to_string(p) + "-" + std::to_string(i));
    REQUIRE(join(reg, std::to_string(p).c_str(), 1000 + p, names) == REG_OK);
  }
  std::vector<RegFileRow> page;
  std::set<std::string> seen;
  uint64_t cursor = 0;
  size_t pages = 0;
  do {
    reg_list_files(&reg, &cursor, 7, &page);
    for (const RegFileRow& r : page) {
      CHECK(seen.insert(r.name).second);  // never twice
      CHECK(reg_has_file(&reg, r.name));  // never one that is gone
    }
    // Every other page, a peer leaves (and its slots are reused by a newcomer).
    if (pages % 2 == 0 && pages / 2 < 20) {
      reg_leave(&reg, std::to_string(pages / 2));
      join(reg, ("new" + std::to_string(pages)).c_str(), 3000 + static_cast<int>(pages),
           {"n" + std::to_string(pages)});
    }
    REQUIRE(++pages < 1000);
  } while (cursor != 0);
  // Whoever stayed all along was listed.
  for (int p = 19; p >= 0; p--) {
    if (reg_find(&reg, std::to_string(p)) == nullptr) continue;
    for (int i = 0; i < 10; i++)
      CHECK(seen.count("p" + std::to_string(p) + "-" + std::to_string(i)) == 1);
  }
}

TEST_CASE("registry: a page's cost is bounded by its limit, not the table", "[registry]") {
  Registry reg;
  std::vector<std::string> names;
  for (int i = 0; i < 20000; i++)
    names.push_back("f" + std::to_string(i));
  REQUIRE(join(reg, "1", 1001, names) == REG_OK);
  REQUIRE(join(reg, "2", 1002, {"last"}) == REG_OK);
  std::vector<RegFileRow> page;
  uint64_t cursor = 0;
  reg.list_slots_read = 0;
  reg_list_files(&reg, &cursor, 10, &page);
  CHECK(page.size() == 10);
  CHECK(cursor != 0);
  CHECK(reg.list_slots_read <= 2 * 10 + 2);  // each name: its content, then its end
  // 20,000 free slots before the last name: each call passes over a bounded
  // number of them, and the list still reaches it.
  REQUIRE(reg_leave(&reg, "1") == REG_OK);
  cursor = 0;
  size_t calls = 0;
  bool found = false;
  do {
    reg.list_slots_read = 0;
    reg_list_files(&reg, &cursor, 10, &page);
    CHECK(reg.list_slots_read <= 4096 + 2 * 10 + 2);
    for (const RegFileRow& r : page)
      found = found || r.name == "last";
    REQUIRE(++calls < 100);
  } while (cursor != 0);
  CHECK(found);
  CHECK(calls > 1);
}
