// proto: decoding, validating and encoding the control plane's JSON.
#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <string>

#include "../request_equal.h"
#include "limits.h"
#include "proto.h"
#include "rapidjson/document.h"

static std::string& err_sink() {
  static std::string e;
  return e;
}

static int decode(const std::string& s, ProtoRequest* r, std::string* err) {
  return proto_decode_request(s.data(), s.size(), r, err);
}

// A request as the test reports it: control and non-ASCII bytes as \xNN, so
// that Catch2's TAP lines stay one line each.
static std::string shown(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char esc[5];
      snprintf(esc, sizeof esc, "\\x%02x", c);
      out += esc;
    }
  }
  return out;
}

TEST_CASE("proto: a seed join decodes with every field", "[proto]") {
  ProtoRequest r;
  std::string err;
  REQUIRE(decode(R"({"action":"join","peer_id":"3","files":["a.txt","b c"],"tcp_port":54819})", &r,
                 &err) == 0);
  CHECK(r.action == "join");
  CHECK(r.peer_id == "3");
  CHECK(r.files == std::vector<std::string>{"a.txt", "b c"});
  CHECK(r.tcp_port == 54819);
  CHECK(r.fields == (FLD_PEER_ID | FLD_FILES | FLD_TCP_PORT));
}

TEST_CASE("proto: integer and string peer ids are the same id", "[proto]") {
  ProtoRequest a, b;
  std::string err;
  REQUIRE(decode(R"({"action":"leave","peer_id":3})", &a, &err) == 0);
  REQUIRE(decode(R"({"action":"leave","peer_id":"3"})", &b, &err) == 0);
  CHECK(a.peer_id == b.peer_id);
}

TEST_CASE("proto: unknown fields are ignored as extensions", "[proto]") {
  ProtoRequest r;
  std::string err;
  REQUIRE(decode(R"({"action":"leave","peer_id":"1","v":1,"seq":7,"x":{"y":[1,2]}})", &r, &err) ==
          0);
  CHECK(r.peer_id == "1");
}

TEST_CASE("proto: malformed requests are refused with a reason", "[proto]") {
  struct Case {
    const char* input;
    const char* reason;
  } cases[] = {
      {"not json", "invalid JSON"},
      {"", "invalid JSON"},
      {"\xEF\xBB\xBF{\"action\":\"leave\",\"peer_id\":\"1\"}", "invalid JSON"},  // a BOM
      {"\xEF{\"action\":\"leave\",\"peer_id\":\"1\"}", "invalid JSON"},
      {"[1,2]", "expected a JSON object"},
      {R"({"peer_id":"1"})", "missing field 'action'"},
      {R"({"action":5})", "'action' must be a string"},
      {R"({"action":"join","peer_id":"1","tcp_port":"80"})", "'tcp_port' must be an integer"},
      {R"({"action":"join","peer_id":"1","tcp_port":70000})", "'tcp_port' must be an integer"},
      {R"({"action":"join","peer_id":"1","tcp_port":0})", "'tcp_port' must be an integer"},
      {R"({"action":"join","peer_id":"1","tcp_port":1.5})", "'tcp_port' must be an integer"},
      {R"({"action":"leave","peer_id":-1})", "'peer_id' must be"},
      {R"({"action":"leave","peer_id":""})", "'peer_id' must be"},
      {R"({"action":"leave","peer_id":[1]})", "'peer_id' must be"},
      {R"({"action":"leave","peer_id":"a\u0001"})", "control characters"},
      {R"({"action":"join","peer_id":"1","files":"a"})", "'files' must be a list"},
      {R"({"action":"join","peer_id":"1","files":[1]})", "'files' must be a string"},
      {R"({"action":"share_file","peer_id":"1","file":"../etc/passwd"})", "not a path"},
      {R"({"action":"share_file","peer_id":"1","file":".."})", "'.' or '..'"},
      {R"({"action":"get_peers","peer_id":"1","file_name":""})", "empty"},
      {R"({"action":"get_peers","peer_id":"1","file_name":"a\\b"})", "not a path"},
  };
  for (const Case& c : cases) {
    ProtoRequest r;
    std::string err;
    INFO(shown(c.input));
    CHECK(decode(c.input, &r, &err) == -1);
    CHECK_THAT(err, Catch::Contains(c.reason));
  }
}

TEST_CASE("proto: invalid UTF-8 and deep nesting are refused without crashing", "[proto]") {
  ProtoRequest r;
  std::string err;
  std::string bad = "{\"action\":\"join\",\"peer_id\":\"\xff\xfe\"}";
  CHECK(decode(bad, &r, &err) == -1);
  std::string deep(200000, '[');
  CHECK(decode(deep, &r, &err) == -1);
  std::string deep_ok = "{\"action\":\"leave\",\"peer_id\":\"1\",\"x\":" + std::string(5000, '[') +
                        std::string(5000, ']') + "}";
  CHECK(decode(deep_ok, &r, &err) == 0);
}

TEST_CASE("proto: name rules follow PROTOCOL section 4", "[proto]") {
  std::string why;
  CHECK(proto_check_name("example.txt", &why) == 0);
  CHECK(proto_check_name("my notes (v2).txt", &why) == 0);
  CHECK(proto_check_name("caf\xc3\xa9.txt", &why) == 0);
  CHECK(proto_check_name(std::string(255, 'a'), &why) == 0);
  CHECK(proto_check_name(std::string(256, 'a'), &why) == -1);
  CHECK(proto_check_name("", &why) == -1);
  CHECK(proto_check_name(".", &why) == -1);
  CHECK(proto_check_name("..", &why) == -1);
  CHECK(proto_check_name("...", &why) == 0);
  CHECK(proto_check_name("a/b", &why) == -1);
  CHECK(proto_check_name("a\\b", &why) == -1);
  CHECK(proto_check_name(std::string("a\0b", 3), &why) == -1);
  CHECK(proto_check_name("tab\there", &why) == -1);
  CHECK(proto_check_name("del\x7f", &why) == -1);
  CHECK(proto_check_name("c1\xc2\x85", &why) == -1);    // U+0085, a C1 control
  CHECK(proto_check_name("\xc0\xaf", &why) == -1);      // overlong '/'
  CHECK(proto_check_name("\xed\xa0\x80", &why) == -1);  // a surrogate
}

TEST_CASE("proto: requests encode in the seed's form, peer id as a string", "[proto]") {
  ProtoRequest r;
  r.action = "join";
  r.peer_id = "3";
  r.tcp_port = 5000;
  r.fields = FLD_PEER_ID | FLD_FILES | FLD_TCP_PORT;
  std::string out;
  proto_encode_request(r, &out);
  CHECK(out == R"({"action":"join","peer_id":"3","files":[],"tcp_port":5000})");
  ProtoRequest back;
  std::string err;
  REQUIRE(decode(out, &back, &err) == 0);
  CHECK(back.tcp_port == 5000);
}

// Complete sources for `addrs`; `texts` keeps what they point to.
static std::vector<ProtoSourceRef> sources(const std::vector<ProtoAddr>& addrs,
                                           std::vector<std::string>* texts) {
  texts->resize(addrs.size());
  std::vector<ProtoSourceRef> refs;
  for (size_t i = 0; i < addrs.size(); i++) {
    uint32_t ip = 0;
    if (inet_pton(AF_INET, addrs[i].ip.c_str(), &ip) != 1)
      FAIL("not an IPv4 address: " << addrs[i].ip);
    proto_source_blob("p" + std::to_string(i), ip, addrs[i].port, &(*texts)[i]);
    refs.push_back(proto_source_ref((*texts)[i], addrs[i].port, true));
  }
  return refs;
}

TEST_CASE("proto: answers encode as the seed's and error text is escaped", "[proto]") {
  std::string out;
  proto_encode_ok(&out);
  CHECK(out == R"({"status":"ok"})");
  proto_encode_error("bad \"x\"", &out);
  CHECK(out == R"({"status":"error","message":"bad \"x\""})");
  std::vector<std::string> texts;
  proto_encode_peers({}, 1024, &out);
  CHECK(out == R"({"peers":[]})");
  proto_encode_peers(sources({{"127.0.0.1", 54816}, {"10.0.0.2", 1}}, &texts), 1024, &out);
  CHECK(out == R"({"peers":[["127.0.0.1",54816],["10.0.0.2",1]]})");
}

TEST_CASE("proto: a long peer list is cut to fit 1024 bytes and stays valid JSON", "[proto]") {
  std::vector<ProtoAddr> many;
  for (int i = 0; i < 500; i++)
    many.push_back({"255.255.255.255", 65535});
  std::string out;
  std::vector<std::string> texts;
  proto_encode_peers(sources(many, &texts), 1024, &out);
  CHECK(out.size() <= 1024);
  ProtoAnswer ans;
  std::string err;
  REQUIRE(proto_decode_answer(out.data(), out.size(), &ans, &err) == 0);
  CHECK(ans.peers.size() > 30);
  CHECK(ans.peers.size() < 500);
}

TEST_CASE("proto: answers decode; malformed peer entries are skipped", "[proto]") {
  ProtoAnswer ans;
  std::string err;
  std::string s = R"({"peers":[["127.0.0.1",5],["x"],[1,2],["1.2.3.4",99999],["1.2.3.4",7]]})";
  REQUIRE(proto_decode_answer(s.data(), s.size(), &ans, &err) == 0);
  REQUIRE(ans.peers.size() == 2);
  CHECK(ans.peers[1].ip == "1.2.3.4");
  s = R"({"status":"error","message":"Peer not found"})";
  REQUIRE(proto_decode_answer(s.data(), s.size(), &ans, &err) == 0);
  CHECK_FALSE(ans.ok);
  CHECK(ans.message == "Peer not found");
  s = "[]";
  CHECK(proto_decode_answer(s.data(), s.size(), &ans, &err) == -1);
}

TEST_CASE("proto: extension fields decode when present and are checked", "[proto]") {
  ProtoRequest r;
  std::string err;
  std::string id(64, 'a');
  std::string tok(32, 'b');
  std::string s =
      R"({"action":"share_file","peer_id":"1","file":"x","v":1,"seq":18446744073709551615,)"
      R"("token":")" +
      tok + R"(","numwant":5,"size":123,"id":")" + id + "\"}";
  REQUIRE(decode(s, &r, &err) == 0);
  CHECK(r.extended);
  CHECK(r.seq == 18446744073709551615ull);
  CHECK(r.token == tok);
  CHECK(r.numwant == 5);
  CHECK(r.size == 123);
  CHECK(r.id == id);
  const char* bad[] = {
      R"({"action":"leave","peer_id":"1","v":"1"})",
      R"({"action":"leave","peer_id":"1","v":1,"seq":-1})",
      R"({"action":"leave","peer_id":"1","v":1,"token":"XYZ"})",
      R"({"action":"leave","peer_id":"1","v":1,"token":"BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"})",
      R"({"action":"leave","peer_id":"1","v":1,"size":-5})",
      R"({"action":"leave","peer_id":"1","v":1,"id":"abc"})",
      R"({"action":"join","peer_id":"1","tcp_port":1,"files":[{"size":1}]})",
      R"({"action":"join","peer_id":"1","tcp_port":1,"files":[{"name":"../x"}]})",
  };
  for (const char* b : bad) {
    INFO(b);
    CHECK(decode(b, &r, &err) == -1);
  }
  REQUIRE(
      decode(R"({"action":"join","peer_id":"1","tcp_port":1,"files":["a",{"name":"b","size":3}]})",
             &r, &err) == 0);
  CHECK(r.files == std::vector<std::string>{"a", "b"});
}

TEST_CASE("proto: an extended request encodes v, seq and token", "[proto]") {
  ProtoRequest r;
  r.action = "heartbeat";
  r.peer_id = "2";
  r.extended = true;
  r.seq = 9;
  r.token = std::string(32, 'c');
  r.fields = FLD_PEER_ID | FLD_SEQ | FLD_TOKEN;
  std::string out;
  proto_encode_request(r, &out);
  CHECK(out == R"({"action":"heartbeat","peer_id":"2","v":1,"seq":9,"token":")" +
                   std::string(32, 'c') + "\"}");
  ProtoRequest back;
  std::string err;
  REQUIRE(decode(out, &back, &err) == 0);
  CHECK(back.seq == 9);
}

TEST_CASE("proto: an extended reply is cut to fit and keeps its shape", "[proto]") {
  ProtoRequest req;
  req.extended = true;
  req.seq = 3;
  req.fields = FLD_SEQ;
  ProtoReply reply;
  reply.kind = ProtoReply::PEERS;
  std::vector<std::string> texts(200);
  uint32_t ip;
  REQUIRE(inet_pton(AF_INET, "127.0.0.1", &ip) == 1);
  for (int i = 0; i < 200; i++) {
    proto_source_blob("peer-" + std::to_string(i), ip, 1000 + i, &texts[i]);
    reply.sources.push_back(proto_source_ref(texts[i], 1000 + i, true));
  }
  std::string out;
  proto_encode_reply(reply, req, 1024, &out);
  CHECK(out.size() <= 1024);
  ProtoAnswer ans;
  std::string err;
  REQUIRE(proto_decode_answer(out.data(), out.size(), &ans, &err) == 0);
  CHECK(ans.has_seq);
  CHECK(ans.seq == 3);
  CHECK(ans.peers.size() > 3);
  proto_encode_reply(reply, req, 65536, &out);
  REQUIRE(proto_decode_answer(out.data(), out.size(), &ans, &err) == 0);
  CHECK(ans.peers.size() == 200);
}

TEST_CASE("proto: peer addresses from a tracker must be IPv4 addresses", "[proto]") {
  ProtoAnswer ans;
  std::string err;
  std::string s =
      R"({"peers":[["x\n2026-01-01 - Downloaded file e",80],["999.1.1.1",80],["10.0.0.1",80]]})";
  REQUIRE(proto_decode_answer(s.data(), s.size(), &ans, &err) == 0);
  REQUIRE(ans.peers.size() == 1);
  CHECK(ans.peers[0].ip == "10.0.0.1");
}

TEST_CASE("proto: one request object is reused without leftovers", "[proto]") {
  ProtoRequest r;
  std::string err;
  REQUIRE(decode(R"({"action":"join","v":1,"seq":9,"peer_id":"7","tcp_port":5,"files":["a"],)"
                 R"("token":"00112233445566778899aabbccddeeff"})",
                 &r, &err) == 0);
  REQUIRE(decode(R"({"action":"get_peers","peer_id":"8","file_name":"b"})", &r, &err) == 0);
  CHECK(r.peer_id == "8");
  CHECK(r.files.empty());
  CHECK(r.token.empty());
  CHECK_FALSE(r.extended);
  CHECK(r.seq == 0);
  CHECK(r.tcp_port == 0);
  CHECK(r.fields == (FLD_PEER_ID | FLD_FILE_NAME));
}

TEST_CASE("proto: the first of duplicate keys wins; keys are matched whole", "[proto]") {
  ProtoRequest r;
  std::string err;
  REQUIRE(decode(R"({"action":"leave","peer_id":"1","peer_id":"2"})", &r, &err) == 0);
  CHECK(r.peer_id == "1");
  // "peer_id\u0000x" is another key, not peer_id.
  REQUIRE(decode(R"({"action":"leave","peer_id\u0000x":"5"})", &r, &err) == 0);
  CHECK((r.fields & FLD_PEER_ID) == 0);
  REQUIRE(decode(R"({"action":"leave","peer_i":"5","peer_idd":"6"})", &r, &err) == 0);
  CHECK((r.fields & FLD_PEER_ID) == 0);
}

TEST_CASE("proto: extended answers escape what JSON requires", "[proto]") {
  ProtoRequest req;
  req.extended = true;
  ProtoReply reply;
  reply.kind = ProtoReply::ERROR;
  reply.message = std::string("a\"b\\c\n\t\x01\x1f/\xc3\xa9", 12);
  std::string out;
  proto_encode_reply(reply, req, 65536, &out);
  CHECK(out ==
        "{\"status\":\"error\",\"v\":1,\"message\":\"a\\\"b\\\\c\\n\\t\\u0001\\u001F/\xc3\xa9\"}");
  ProtoAnswer ans;
  REQUIRE(proto_decode_answer(out.data(), out.size(), &ans, &err_sink()) == 0);

  reply.kind = ProtoReply::PEERS;
  uint32_t ip;
  REQUIRE(inet_pton(AF_INET, "10.200.3.45", &ip) == 1);
  std::string text;
  proto_source_blob("p\"1", ip, 65535, &text);
  reply.sources.push_back(proto_source_ref(text, 65535, false));
  reply.size = 0;
  reply.cid = std::string(64, 'a');
  proto_encode_reply(reply, req, 65536, &out);
  CHECK(out == "{\"status\":\"ok\",\"v\":1,\"size\":0,\"id\":\"" + std::string(64, 'a') +
                   "\",\"peers\":[],\"sources\":[{\"peer_id\":\"p\\\"1\",\"ip\":\"10.200.3.45\","
                   "\"port\":65535,\"complete\":false}]}");
}

// An extended PEERS answer with every string at its longest and every byte
// escaped (\u0001 is 6 bytes): the writer sizes its buffer for this before
// writing unchecked, and json_end asserts that it stayed within.
static void encode_escaped(bool with_sources, std::string* out) {
  ProtoRequest req;
  req.extended = true;
  req.seq = UINT64_MAX;
  req.fields |= FLD_SEQ;
  ProtoReply reply;
  reply.kind = ProtoReply::PEERS;
  reply.interval = INT32_MAX;
  reply.token = std::string(32, '\x01');
  reply.size = INT64_MAX;
  reply.cid = std::string(64, '\x01');
  reply.name = std::string(255, '\x01');
  reply.others = INT64_MIN;
  std::vector<std::string> blobs(with_sources ? kMaxNumwant : 0);
  for (std::string& b : blobs) {
    proto_source_blob(std::string(kMaxPeerIdBytes, '\x01'), 0xffffffffu, 65535, &b);
    reply.sources.push_back(proto_source_ref(b, 65535, true));
  }
  for (size_t i = 0; i < kMaxContentsListed; i++) {
    ProtoContent c;
    c.cid = std::string(64, '\x01');
    c.size = c.holders = c.first_seen = INT64_MIN;
    reply.contents.push_back(c);
  }
  reply.contents_total = INT64_MAX;
  proto_encode_reply(reply, req, SIZE_MAX, out);
}

TEST_CASE("proto: an extended answer fits its size bound whatever bytes its strings hold",
          "[proto]") {
  for (bool with_sources : {false, true}) {
    std::string out;
    encode_escaped(with_sources, &out);
    rapidjson::Document d;
    d.Parse(out.data(), out.size());
    REQUIRE_FALSE(d.HasParseError());
    CHECK(d["contents"].Size() == kMaxContentsListed);
    CHECK(d["contents"][0]["id"].GetStringLength() == 64);
    CHECK(d["name"].GetStringLength() == 255);
    CHECK(d["sources"].Size() == (with_sources ? static_cast<size_t>(kMaxNumwant) : 0));
    if (with_sources) CHECK(d["sources"][0]["peer_id"].GetStringLength() == kMaxPeerIdBytes);
  }
}

TEST_CASE("proto: IPv4 addresses format as inet_pton reads them", "[proto]") {
  char buf[16];
  uint32_t ip;
  for (const char* s : {"0.0.0.0", "127.0.0.1", "255.255.255.255", "10.20.100.9"}) {
    REQUIRE(inet_pton(AF_INET, s, &ip) == 1);
    CHECK(proto_ip_format(ip, buf) == strlen(s));
    CHECK(std::string(buf) == s);
  }
}

TEST_CASE("proto: a string's bytes decide its request wherever they lie", "[proto]") {
  // The reader scans strings 16 bytes at a time from an aligned address, byte
  // by byte before it: put each kind of byte at each place in peer ids of each
  // length, in the middle of a request and at its very end, and check what
  // each request decodes to.
  const std::string not_json = "invalid JSON (expected one JSON object per datagram)";
  struct Kind {
    char c;
    std::string err;  // "": the request decodes, with the peer id as it is
  } kinds[] = {
      {'"', not_json},
      {'\\', not_json},
      {'\x01', not_json},
      {'\x1f', not_json},
      {'\x7f', "field 'peer_id' may not contain control characters"},
      {'\x80', "field 'peer_id' is not valid UTF-8"},
      {' ', ""},
      {'a', ""},
  };
  std::string wrong;
  for (size_t len = 1; len <= 40; len++) {
    for (size_t at = 0; at < len; at++) {
      for (const Kind& k : kinds) {
        std::string v(len, 'x');
        v[at] = k.c;
        std::string mid = R"({"action":"get_peers","peer_id":")" + v + R"(","file_name":"f"})";
        std::string tail = R"({"action":"get_peers","file_name":"f","peer_id":")" + v + "\"}";
        for (const std::string& s : {mid, tail}) {
          ProtoRequest r;
          std::string err;
          int rc = decode(s, &r, &err);
          bool right = k.err.empty() ? rc == 0 && r.peer_id == v && r.file_name == "f"
                                     : rc == -1 && err == k.err;
          if (!right) wrong += s + " -> " + (rc == 0 ? "decoded" : err) + "\n";
        }
      }
    }
  }
  CHECK(wrong == "");
}

TEST_CASE("proto: a token or content id with any byte not lowercase hex is refused", "[proto]") {
  const std::string good_token = "00112233445566778899aabbccddeeff";
  const std::string good_id(64, 'e');
  ProtoRequest r;
  std::string err;
  auto token_req = [](const std::string& tok) {
    return R"({"action":"heartbeat","peer_id":"1","v":1,"token":")" + tok + "\"}";
  };
  auto id_req = [](const std::string& id) {
    return R"({"action":"share_file","peer_id":"1","file":"a","v":1,"id":")" + id + "\"}";
  };
  REQUIRE(decode(token_req(good_token), &r, &err) == 0);
  REQUIRE(decode(id_req(good_id), &r, &err) == 0);
  std::string accepted;
  for (char c : {'g', 'G', 'A', 'F', '/', ':', '`', '@', ' ', '\x80', '\xff'}) {
    for (size_t at = 0; at < good_id.size(); at++) {
      std::string id = good_id;
      id[at] = c;
      if (decode(id_req(id), &r, &err) == 0) accepted += id + "\n";
      if (at >= good_token.size()) continue;
      std::string tok = good_token;
      tok[at] = c;
      if (decode(token_req(tok), &r, &err) == 0) accepted += tok + "\n";
    }
  }
  CHECK(accepted == "");
}

// A decoded request, or the decoder's error, as one line: the action, "v=1"
// when extended, then each field present as name=value.
static std::string outcome(const std::string& s) {
  ProtoRequest r;
  std::string err;
  int rc = decode(s, &r, &err);
  if (rc == PROTO_ANSWER) return "answer";
  if (rc != 0) return "error: " + err;
  std::string o = r.action + (r.extended ? " v=1" : "");
  auto put = [&o, &r](uint32_t f, const std::string& v) {
    if (r.fields & f) o += std::string(" ") + proto_field_name(f) + "=" + v;
  };
  std::string files;
  for (const std::string& f : r.files)
    files += (files.empty() ? "" : "|") + f;
  put(FLD_PEER_ID, r.peer_id);
  put(FLD_FILES, "[" + files + "]");
  put(FLD_TCP_PORT, std::to_string(r.tcp_port));
  put(FLD_FILE, r.file);
  put(FLD_FILE_NAME, r.file_name);
  put(FLD_CURSOR, std::to_string(r.cursor));
  put(FLD_LIMIT, std::to_string(r.limit));
  put(FLD_SEQ, std::to_string(r.seq));
  put(FLD_TOKEN, r.token);
  put(FLD_NUMWANT, std::to_string(r.numwant));
  put(FLD_SIZE, std::to_string(r.size));
  put(FLD_ID, r.id);
  put(FLD_COMPLETE, r.complete ? "true" : "false");
  return o;
}

TEST_CASE("proto: every kind of JSON a request can be decodes as it should", "[proto]") {
  const std::string not_json = "error: invalid JSON (expected one JSON object per datagram)";
  const std::string bad_seq = "error: field 'seq' must be a non-negative integer";
  const std::string bad_v = "error: unsupported protocol version (this tracker speaks \"v\":1)";
  const std::string no_action = "error: missing field 'action'";
  const std::string not_object = "error: invalid request: expected a JSON object";
  const std::string bad_numwant = "error: field 'numwant' must be a positive integer";
  const std::string a_v1 = "get_peers v=1 peer_id=1 file_name=a seq=";
  const struct {
    std::string input;
    std::string outcome;
  } cases[] = {
      // Whitespace, integer peer ids.
      {R"({"action":"join","peer_id":"3","files":["a.txt","b c"],"tcp_port":54819})",
       "join peer_id=3 files=[a.txt|b c] tcp_port=54819"},
      {R"({"action": "join", "peer_id": "3", "files": ["a.txt"], "tcp_port": 54819})",
       "join peer_id=3 files=[a.txt] tcp_port=54819"},
      {" \t\r\n{ \"action\" : \"leave\" , \"peer_id\" : 3 } \n", "leave peer_id=3"},
      // Numbers: 64-bit bounds, past them, signs, fractions, exponents, leading zeros.
      {R"({"action":"get_peers","v":1,"seq":18446744073709551615,"peer_id":"1","file_name":"a"})",
       a_v1 + "18446744073709551615"},
      {R"({"action":"get_peers","v":1,"seq":999999999999999999,"peer_id":"1","file_name":"a"})",
       a_v1 + "999999999999999999"},
      {R"({"action":"get_peers","v":1,"seq":18446744073709551616,"peer_id":"1","file_name":"a"})",
       bad_seq},
      {R"({"action":"get_peers","v":1,"seq":99999999999999999999,"peer_id":"1","file_name":"a"})",
       bad_seq},
      {R"({"action":"get_peers","v":1,"seq":36893488147419103232,"peer_id":"1","file_name":"a"})",
       bad_seq},
      {R"({"action":"get_peers","v":1,"seq":4294967295,"peer_id":"1","file_name":"a"})",
       a_v1 + "4294967295"},
      {R"({"action":"get_peers","v":1,"seq":4294967296,"peer_id":"1","file_name":"a"})",
       a_v1 + "4294967296"},
      {R"({"action":"get_peers","v":1,"seq":-1,"peer_id":"1","file_name":"a"})", bad_seq},
      {R"({"action":"get_peers","v":1.0,"peer_id":"1","file_name":"a"})", bad_v},
      {R"({"action":"get_peers","v":1e0,"peer_id":"1","file_name":"a"})", bad_v},
      {R"({"action":"get_peers","v":01,"peer_id":"1","file_name":"a"})", not_json},
      {R"({"action":"get_peers","v":0,"peer_id":"1","file_name":"a"})", bad_v},
      // Literals.
      {R"({"action":"share_file","peer_id":"1","file":"a","complete":false,"v":1})",
       "share_file v=1 peer_id=1 file=a complete=false"},
      {R"({"action":"share_file","peer_id":"1","file":"a","complete":null,"v":1})",
       "error: field 'complete' must be true or false"},
      {R"({"action":"share_file","peer_id":"1","file":"a","complete":tru})", not_json},
      // Lists: empty, a trailing comma, nested, objects.
      {R"({"action":"join","peer_id":"1","tcp_port":5,"files":[]})",
       "join peer_id=1 files=[] tcp_port=5"},
      {R"({"action":"join","peer_id":"1","tcp_port":5,"files":[ ]})",
       "join peer_id=1 files=[] tcp_port=5"},
      {R"({"action":"join","peer_id":"1","tcp_port":5,"files":["a",]})", not_json},
      {R"({"action":"join","peer_id":"1","tcp_port":5,"files":[["a"]]})",
       "error: field 'files' must be a string"},
      {R"({"action":"join","peer_id":"1","tcp_port":5,"files":[{"name":"a","size":3}]})",
       "join peer_id=1 files=[a] tcp_port=5"},
      // Syntax: trailing commas and bytes, a NUL byte.
      {R"({"action":"leave","peer_id":"1",})", not_json},
      {R"({"action":"leave","peer_id":"1"}x)", not_json},
      {std::string(R"({"action":"leave","peer_id":"1"})") + '\0', not_json},
      // Strings: escapes, control bytes, invalid and valid UTF-8.
      {R"({"action":"leave","peer_id":"a\u0062"})", "leave peer_id=ab"},
      {R"({"action":"leave","peer_id":"a\"b"})", "leave peer_id=a\"b"},
      {"{\"action\":\"leave\",\"peer_id\":\"a\x01\"}", not_json},
      {"{\"action\":\"leave\",\"peer_id\":\"\xff\xfe\"}",
       "error: field 'peer_id' is not valid UTF-8"},
      {"{\"action\":\"leave\",\"peer_id\":\"\xc3\xa9\"}", "leave peer_id=\xc3\xa9"},
      // Duplicate keys: the first wins, whatever its type.
      {R"({"action":"leave","peer_id":"1","peer_id":"2"})", "leave peer_id=1"},
      {R"({"action":"leave","action":7,"peer_id":"1"})", "leave peer_id=1"},
      // Not a request: empty objects, other JSON, answers, broken text.
      {R"({})", no_action},
      {R"({ })", no_action},
      {R"([])", not_object},
      {R"("leave")", not_object},
      {R"({"status":"ok"})", "answer"},
      {R"({"peers":[]})", "answer"},
      {R"({"action":"leave")", not_json},
      {R"({"action" "leave"})", not_json},
      {R"({action:"leave"})", not_json},
      {"", not_json},
      {"{", not_json},
      {R"({"":""})", no_action},
      // Extensions checked whatever "v" says.
      {R"({"action":"get_peers","peer_id":"1","file_name":"a","numwant":0})", bad_numwant},
      {R"({"action":"get_peers","peer_id":"1","file_name":"a","numwant":2147483648,"v":1})",
       bad_numwant},
      {R"({"action":"heartbeat","peer_id":"1","v":1,"token":"00112233445566778899aabbccddeeff"})",
       "heartbeat v=1 peer_id=1 token=00112233445566778899aabbccddeeff"},
      {R"({"action":"heartbeat","peer_id":"1","v":1,"token":"00112233445566778899AABBCCDDEEFF"})",
       "error: field 'token' must be the 32 hex digits the join answer gave"},
  };
  for (const auto& c : cases) {
    INFO(shown(c.input));
    CHECK(outcome(c.input) == c.outcome);
  }
}

TEST_CASE("proto: mutated requests decode as RapidJSON reads them", "[proto]") {
  // Bytes replaced, inserted and dropped in a few requests; each result is
  // checked against RapidJSON's DOM (tests/request_equal.h). The mutations
  // must reach every outcome, or the check proves little.
  const std::string seeds[] = {
      R"({"action":"join","v":1,"seq":12,"peer_id":"p-1","tcp_port":6881,"files":["x.bin","y"]})",
      R"({"action":"get_peers","v":1,"seq":9,"peer_id":"7","file_name":"movie.mkv","numwant":10})",
      R"({"action":"share_file","peer_id":"1","file":"a","size":1048576,"complete":true,"v":1})",
  };
  const char alphabet[] = "{}[]\":, \\0123456789-.eEtruefalsn\x01\xc3\xa9\xff";
  uint32_t x = 12345;
  auto next = [&x]() {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  std::string broken;
  int decoded = 0, not_json = 0, refused = 0;
  for (int i = 0; i < 20000; i++) {
    std::string s = seeds[i % 3];
    for (int k = 0, edits = 1 + static_cast<int>(next() % 3); k < edits; k++) {
      size_t at = next() % (s.size() + 1);
      char c = alphabet[next() % (sizeof alphabet - 1)];
      switch (next() % 3) {
        case 0:
          if (at < s.size()) s[at] = c;
          break;
        case 1:
          s.insert(at, 1, c);
          break;
        default:
          if (at < s.size()) s.erase(at, 1);
      }
    }
    std::string why = request_check(s);
    if (!why.empty() && broken.size() < 4096) broken += s + ": " + why + "\n";
    ProtoRequest r;
    std::string err;
    int rc = decode(s, &r, &err);
    decoded += rc == 0;
    not_json += rc == -1 && err.compare(0, 12, "invalid JSON") == 0;
    refused += rc == -1 && err.compare(0, 12, "invalid JSON") != 0;
  }
  CHECK(broken == "");
  CHECK(decoded > 1000);
  CHECK(not_json > 1000);
  CHECK(refused > 1000);
}

TEST_CASE("proto: text nested deeper than the reader recurses reads the same", "[proto]") {
  // Past a few dozen levels the reader goes on iteratively: a request around
  // such nesting keeps every field before and after it, in "files" too.
  for (size_t depth : {1, 31, 32, 33, 64, 3000}) {
    INFO(depth);
    std::string arrays = std::string(depth, '[') + std::string(depth, ']');
    std::string objects;
    for (size_t i = 0; i < depth; i++)
      objects += "{\"a\":";
    objects += "1" + std::string(depth, '}');
    std::string s = R"({"action":"join","peer_id":"1","x":)" + arrays +
                    R"(,"files":["a",{"name":"b","y":)" + objects + R"(,"size":2}],"tcp_port":5})";
    CHECK(outcome(s) == "join peer_id=1 files=[a|b] tcp_port=5");
    CHECK(outcome(s.substr(0, s.size() - 1)) ==
          "error: invalid JSON (expected one JSON object per datagram)");
  }
}

/* ---- list ---------------------------------------------------------------- */

TEST_CASE("proto: a list request decodes its cursor and limit", "[proto]") {
  ProtoRequest r;
  std::string err;
  REQUIRE(decode(R"({"action":"list"})", &r, &err) == 0);
  CHECK(r.action == "list");
  CHECK(r.fields == 0);
  REQUIRE(decode(R"({"action":"list","peer_id":"p","cursor":12345678901,"limit":7,"v":1})", &r,
                 &err) == 0);
  CHECK(r.fields == (FLD_PEER_ID | FLD_CURSOR | FLD_LIMIT));
  CHECK(r.cursor == 12345678901ull);
  CHECK(r.limit == 7);
  CHECK(r.extended);
  const char* bad[] = {
      R"({"action":"list","cursor":-1})",   R"({"action":"list","cursor":"5"})",
      R"({"action":"list","cursor":1.5})",  R"({"action":"list","cursor":null})",
      R"({"action":"list","limit":0})",     R"({"action":"list","limit":-3})",
      R"({"action":"list","limit":"all"})", R"({"action":"list","limit":99999999999})",
  };
  for (const char* b : bad) {
    INFO(b);
    CHECK(decode(b, &r, &err) == -1);
    CHECK((err.find("'cursor'") != std::string::npos || err.find("'limit'") != std::string::npos));
  }
  CHECK(outcome(R"({"action":"list","cursor":5,"limit":3})") == "list cursor=5 limit=3");
  // A request encodes its cursor and limit back.
  ProtoRequest q;
  q.action = "list";
  q.fields = FLD_CURSOR | FLD_LIMIT;
  q.cursor = 99;
  q.limit = 4;
  std::string out;
  proto_encode_request(q, &out);
  CHECK(out == R"({"action":"list","cursor":99,"limit":4})");
}

static ProtoListRow list_row(const std::string& name, int64_t size = 10) {
  ProtoListRow r;
  r.name = name;
  r.cid = std::string(64, 'c');
  r.size = size;
  r.holders = 3;
  r.complete = 2;
  return r;
}

TEST_CASE("proto: a list answer encodes and decodes", "[proto]") {
  ProtoReply reply;
  reply.kind = ProtoReply::LIST;
  reply.rows = {list_row("a \"quoted\" name"), list_row("b.bin", -1)};
  reply.rows[1].cid.clear();
  reply.next = 42;
  reply.total = 9;
  ProtoRequest req;
  req.extended = true;
  req.fields = FLD_SEQ;
  req.seq = 5;
  std::string out;
  proto_encode_reply(reply, req, 1024, &out);
  CHECK(out ==
        R"({"status":"ok","v":1,"seq":5,"files":[{"name":"a \"quoted\" name","size":10,"id":")" +
            std::string(64, 'c') +
            R"(","holders":3,"complete":2},{"name":"b.bin","size":-1,"id":"","holders":3,)"
            R"("complete":2}],"next":42,"total":9})");
  ProtoAnswer ans;
  std::string err;
  REQUIRE(proto_decode_answer(out.data(), out.size(), &ans, &err) == 0);
  CHECK(ans.ok);
  CHECK(ans.has_files);
  REQUIRE(ans.files.size() == 2);
  CHECK(ans.files[0].name == "a \"quoted\" name");
  CHECK(ans.files[0].cid == std::string(64, 'c'));
  CHECK(ans.files[0].size == 10);
  CHECK(ans.files[0].holders == 3);
  CHECK(ans.files[0].complete == 2);
  CHECK(ans.files[1].cid.empty());
  CHECK(ans.files[1].size == -1);
  CHECK(ans.next == 42);
  CHECK(ans.total == 9);
  // Rows a peer must not trust are left out: a path, a name with controls.
  std::string hostile =
      R"({"status":"ok","files":[{"name":"../etc/passwd","size":1},{"name":"x\u0007"},)"
      R"({"name":"ok.txt","size":"big","holders":-4}],"next":0,"total":3})";
  REQUIRE(proto_decode_answer(hostile.data(), hostile.size(), &ans, &err) == 0);
  REQUIRE(ans.files.size() == 1);
  CHECK(ans.files[0].name == "ok.txt");
  CHECK(ans.files[0].size == -1);
  CHECK(ans.files[0].holders == 0);
  CHECK(ans.next == 0);
}

TEST_CASE("proto: a list answer with long names stays within its size", "[proto]") {
  ProtoReply reply;
  reply.kind = ProtoReply::LIST;
  for (int i = 0; i < 50; i++)  // 255 bytes of quotes: 510 once escaped
    reply.rows.push_back(list_row(std::string(254, '"') + static_cast<char>('a' + i % 26)));
  reply.next = UINT64_MAX;  // the fit counts the longest next
  reply.total = 50;
  ProtoRequest req;
  for (size_t max : {1024, 8192}) {
    size_t fit = proto_list_fit(reply, req, max);
    CHECK(fit >= 1);
    CHECK(fit < 50);
    std::string out;
    proto_encode_reply(reply, req, max, &out);
    CHECK(out.size() <= max);
    ProtoAnswer ans;
    std::string err;
    REQUIRE(proto_decode_answer(out.data(), out.size(), &ans, &err) == 0);
    CHECK(ans.files.size() == fit);
    // One more row would not have fit.
    ProtoReply more = reply;
    more.rows.resize(fit + 1);
    std::string longer;
    proto_encode_reply(more, req, 1 << 20, &longer);
    CHECK(longer.size() > max);
  }
}
