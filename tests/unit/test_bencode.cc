// Bencode writing and reading, and the BitTorrent HTTP tracker's query
// parsing and bencoded answers (bthttp.cc) against a store.
#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <string>

#include "bencode.h"
#include "bthttp.h"
#include "btstore.h"

static std::string pct(const std::string& bytes) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : bytes) {
    out += '%';
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

static std::string hash_of(char fill) {
  std::string h(20, fill);
  h[0] = '\0';  // binary bytes, a NUL among them
  h[1] = '&';
  h[2] = '%';
  return h;
}

// The bytes with anything unprintable as \xNN (test messages are TAP lines).
static std::string printable(const std::string& s) {
  std::string out;
  char buf[8];
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

static BValue decoded(const std::string& s) {
  BValue v;
  std::string err;
  INFO(printable(s));
  REQUIRE(bdecode(s.data(), s.size(), &v, &err));
  return v;
}

static std::string failure_of(const std::string& body) {
  BValue v = decoded(body);
  const BValue* f = v.get("failure reason");
  REQUIRE(f != nullptr);
  REQUIRE(v.dict.size() == 1);
  return f->s;
}

TEST_CASE("bencode writes integers, strings and a failure reason", "[bencode]") {
  std::string out;
  bencode_int(&out, 0);
  bencode_int(&out, -42);
  bencode_int(&out, INT64_MAX);
  bencode_str(&out, std::string("spam"));
  bencode_str(&out, std::string("a\0b", 3));
  bencode_str(&out, std::string());
  CHECK(out == std::string("i0ei-42ei9223372036854775807e4:spam3:a\0b0:", 42));
  CHECK(bencode_failure("no") == "d14:failure reason2:noe");
}

TEST_CASE("bdecode reads what bencode writes and refuses malformed input", "[bencode]") {
  BValue v = decoded("d3:bar4:spam3:fooi42e4:listli1ei-2e0:ee");
  REQUIRE(v.type == BV_DICT);
  CHECK(v.get("bar")->s == "spam");
  CHECK(v.get("foo")->i == 42);
  REQUIRE(v.get("list")->list.size() == 3);
  CHECK(v.get("list")->list[1].i == -2);
  CHECK(v.get("missing") == nullptr);
  const char* bad[] = {"",
                       "i",
                       "ie",
                       "i01e",
                       "i-0e",
                       "i1",
                       "5:abc",
                       "d3:fooe",
                       "d1:bi1e1:ai2ee",
                       "d1:ai1e1:ai2ee",
                       "li1e",
                       "i1ei2e",
                       "x",
                       "di1ei2ee",
                       "-1:a",
                       "i99999999999999999999e"};
  for (const char* b : bad) {
    BValue w;
    std::string err;
    INFO(b);
    CHECK_FALSE(bdecode(b, strlen(b), &w, &err));
    CHECK_FALSE(err.empty());
  }
  std::string deep(kBencodeMaxDepth + 2, 'l');
  deep += std::string(kBencodeMaxDepth + 2, 'e');
  BValue w;
  std::string err;
  CHECK_FALSE(bdecode(deep.data(), deep.size(), &w, &err));
}

TEST_CASE("query strings are split and percent-decoded", "[bthttp]") {
  std::vector<BtQueryParam> q;
  std::string why;
  REQUIRE(bt_query_split("a=%00%ff%41b&&c&d=x+y&e=&%70ort=1", &q, &why));
  REQUIRE(q.size() == 5);
  CHECK(q[0].name == "a");
  CHECK(q[0].value == std::string("\0\xff"
                                  "Ab",
                                  4));
  CHECK(q[1].name == "c");
  CHECK(q[1].value.empty());
  CHECK(q[2].value == "x y");
  CHECK(q[3].name == "e");
  CHECK(q[4].name == "port");
  for (const char* bad : {"a=%", "a=%4", "a=%zz", "a%g1=1", "a=1&b=%0"}) {
    INFO(bad);
    CHECK_FALSE(bt_query_split(bad, &q, &why));
    CHECK(why == "bad percent-encoding in the query");
  }
}

static std::string announce_query(const std::string& hash, const std::string& id,
                                  const std::string& rest) {
  return "info_hash=" + pct(hash) + "&peer_id=" + pct(id) + rest;
}

TEST_CASE("announce queries are checked", "[bthttp]") {
  std::string h = hash_of('h'), id(20, 'p');
  BtHttpAnnounce a;
  std::string why;
  REQUIRE(bt_http_parse_announce(
      announce_query(h, id,
                     "&port=6881&uploaded=1&downloaded=2&left=300&event=started&numwant=7"
                     "&compact=1&key=1a2B3c4D&ip=10.0.0.1&no_peer_id=1"),
      &a, &why));
  CHECK(memcmp(a.a.info_hash.b, h.data(), 20) == 0);
  CHECK(memcmp(a.a.peer_id, id.data(), 20) == 0);
  CHECK(a.a.port == 6881);
  CHECK(a.a.left == 300);
  CHECK(a.a.event == BT_EVENT_STARTED);
  CHECK(a.a.numwant == 7);
  CHECK(a.a.key == 0x1a2b3c4du);
  CHECK(a.a.ip == 0);  // the ip parameter is ignored: the caller sets the connection's

  // Defaults: no event, numwant -1, compact.
  REQUIRE(bt_http_parse_announce(announce_query(h, id, "&port=1&left=0"), &a, &why));
  CHECK(a.a.event == BT_EVENT_NONE);
  CHECK(a.a.numwant == -1);
  CHECK(a.compact);
  // A negative numwant asks for the default, as in BEP 15.
  REQUIRE(bt_http_parse_announce(announce_query(h, id, "&port=1&left=0&numwant=-1"), &a, &why));
  CHECK(a.a.numwant == -1);

  struct Bad {
    std::string query, why;
  };
  const Bad bad[] = {
      {"peer_id=" + pct(id) + "&port=1&left=0", "missing info_hash"},
      {"info_hash=" + pct(h) + "&port=1&left=0", "missing peer_id"},
      {announce_query(h, id, "&left=0"), "missing port"},
      {announce_query(h, id, "&port=1"), "missing left"},
      {announce_query(h.substr(0, 19), id, "&port=1&left=0"),
       "info_hash must be 20 bytes (percent-encoded), got 19"},
      {announce_query(h + "x", id, "&port=1&left=0"),
       "info_hash must be 20 bytes (percent-encoded), got 21"},
      {announce_query(h, id + id, "&port=1&left=0"),
       "peer_id must be 20 bytes (percent-encoded), got 40"},
      {announce_query(h, id, "&port=0&left=0"), "port must be a number from 1 to 65535"},
      {announce_query(h, id, "&port=65536&left=0"), "port must be a number from 1 to 65535"},
      {announce_query(h, id, "&port=-1&left=0"), "port must be a number from 1 to 65535"},
      {announce_query(h, id, "&port=1&left=-5"), "left must be a decimal number of bytes"},
      {announce_query(h, id, "&port=1&left=18446744073709551616"),
       "left must be a decimal number of bytes"},
      {announce_query(h, id, "&port=1&left=0&uploaded=1e3"),
       "uploaded must be a decimal number of bytes"},
      {announce_query(h, id, "&port=1&left=0&event=begun"),
       "event must be started, completed, stopped or empty"},
      {announce_query(h, id, "&port=1&left=0&compact=0"),
       "only compact peer lists are served: ask with compact=1"},
      {announce_query(h, id, "&port=1&left=0&numwant=lots"), "numwant must be a decimal number"},
      {announce_query(h, id, "&port=1&left=0&port=2"), "port given twice"},
      {announce_query(h, id, "&port=1&left=0&key=" + std::string(65, 'k')),
       "key is longer than 64 bytes"},
      {announce_query(h, id, "&port=1&left=0&x=%zz"), "bad percent-encoding in the query"},
  };
  for (const Bad& b : bad) {
    INFO(printable(b.query));
    CHECK_FALSE(bt_http_parse_announce(b.query, &a, &why));
    CHECK(why == b.why);
  }
}

TEST_CASE("announces are answered with compact peers and counts", "[bthttp]") {
  BtLimits lim;
  lim.interval_s = 1234;
  lim.min_interval_s = 567;
  BtStore* s = bt_store_new(lim);
  BtHttpCounts counts;
  std::string h = hash_of('h'), body;
  uint32_t seeder_ip = inet_addr("10.1.2.3"), leecher_ip = inet_addr("10.9.8.7");

  bt_http_announce(
      s, lim,
      BtHttpCall{announce_query(h, std::string(20, 's'), "&port=6881&left=0"), seeder_ip, 1000},
      &body, &counts);
  BValue v = decoded(body);
  CHECK(v.get("complete")->i == 1);
  CHECK(v.get("incomplete")->i == 0);
  CHECK(v.get("interval")->i == 1234);
  CHECK(v.get("min interval")->i == 567);
  CHECK(v.get("peers")->s.empty());  // the announcer is not its own peer

  bt_http_announce(
      s, lim,
      BtHttpCall{announce_query(h, std::string(20, 'l'), "&port=51413&left=99&compact=1"),
                 leecher_ip, 2000},
      &body, &counts);
  v = decoded(body);
  CHECK(v.get("complete")->i == 1);
  CHECK(v.get("incomplete")->i == 1);
  REQUIRE(v.get("peers")->type == BV_STR);
  CHECK(v.get("peers")->s == std::string("\x0a\x01\x02\x03\x1a\xe1", 6));  // 10.1.2.3:6881
  CHECK(counts.announces == 2);

  bt_http_announce(
      s, lim,
      BtHttpCall{announce_query(h, std::string(20, 'l'), "&port=0&left=99"), leecher_ip, 3000},
      &body, &counts);
  CHECK(failure_of(body) == "port must be a number from 1 to 65535");
  CHECK(counts.failures == 1);
  CHECK(bt_peer_count(s) == 2);  // a refused announce changes nothing

  // Scrape: sorted and counted once, an unknown swarm with zeros.
  std::string other = hash_of('a');
  bt_http_scrape(s, "info_hash=" + pct(h) + "&info_hash=" + pct(other) + "&info_hash=" + pct(h),
                 &body, &counts);
  v = decoded(body);
  const BValue* files = v.get("files");
  REQUIRE(files != nullptr);
  REQUIRE(files->dict.size() == 2);
  CHECK(files->dict[0].first == other);  // 'a' sorts before 'h'
  CHECK(files->dict[1].first == h);
  CHECK(files->dict[0].second.get("complete")->i == 0);
  CHECK(files->dict[0].second.get("incomplete")->i == 0);
  CHECK(files->dict[1].second.get("complete")->i == 1);
  CHECK(files->dict[1].second.get("incomplete")->i == 1);
  CHECK(files->dict[1].second.get("downloaded")->i == 0);
  CHECK(counts.scrapes == 1);

  // Stopped: the leecher leaves the swarm.
  bt_http_announce(
      s, lim,
      BtHttpCall{announce_query(h, std::string(20, 'l'), "&port=51413&left=99&event=stopped"),
                 leecher_ip, 4000},
      &body, &counts);
  bt_http_scrape(s, "info_hash=" + pct(h), &body, &counts);
  v = decoded(body);
  CHECK(v.get("files")->get(h)->get("incomplete")->i == 0);
  bt_store_free(s);
}

TEST_CASE("scrape queries are checked", "[bthttp]") {
  BtStore* s = bt_store_new(BtLimits());
  BtHttpCounts counts;
  std::string body;
  bt_http_scrape(s, "", &body, &counts);
  CHECK(failure_of(body) == "scrape needs info_hash (a scrape of every swarm is not served)");
  bt_http_scrape(s, "info_hash=" + pct(std::string(19, 'x')), &body, &counts);
  CHECK(failure_of(body) == "info_hash must be 20 bytes (percent-encoded), got 19");
  std::string many;
  for (size_t i = 0; i <= kBtScrapeMaxHashes; i++)
    many += "info_hash=" + pct(std::string(19, 'x') + static_cast<char>(i)) + "&";
  bt_http_scrape(s, many, &body, &counts);
  CHECK(failure_of(body) == "at most 74 info_hash per scrape");
  CHECK(counts.failures == 3);
  CHECK(counts.scrapes == 0);
  bt_store_free(s);
}
