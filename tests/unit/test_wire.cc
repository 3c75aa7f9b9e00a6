// wire: the data plane's extended form (requests, answers, events, bitfields).
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "manifest.h"
#include "proto.h"
#include "sha_string.h"
#include "wire.h"

// Decoders take a line without its '\n'.
static std::string unline(const std::string& s) {
  REQUIRE(!s.empty());
  REQUIRE(s.back() == '\n');
  REQUIRE(s.find('\n') == s.size() - 1);
  return s.substr(0, s.size() - 1);
}

static int decode_req(const std::string& line, WireRequest* r, std::string* why) {
  return wire_decode_request(line.data(), line.size(), r, why);
}

static int decode_ans(const std::string& line, WireAnswer* a, std::string* why) {
  return wire_decode_answer(line.data(), line.size(), a, why);
}

// The reason a request line is refused ("" if it is not).
static std::string req_refusal(const std::string& line) {
  WireRequest r;
  std::string why;
  if (decode_req(line, &r, &why) == 0) return "";
  CHECK(!why.empty());
  return why;
}

static bool ans_refused(const std::string& line) {
  WireAnswer a;
  std::string why;
  if (decode_ans(line, &a, &why) == 0) return false;
  CHECK(!why.empty());
  return true;
}

static std::string repeat(const std::string& s, size_t n) {
  std::string r;
  for (size_t i = 0; i < n; i++)
    r += s;
  return r;
}

static WireRequest request(WireAction action, const std::string& file, uint32_t index = 0,
                           const std::string& want = "", bool watch = false) {
  WireRequest r;
  r.action = action;
  r.file = file;
  r.index = index;
  r.want = want;
  r.watch = watch;
  return r;
}

static WireRequest round_trip(const WireRequest& r) {
  std::string line;
  wire_encode_request(r, &line);
  WireRequest back;
  std::string why;
  INFO(unline(line));  // the TAP stream takes no newline inside a message
  REQUIRE(decode_req(unline(line), &back, &why) == 0);
  return back;
}

static Manifest sample_manifest(uint64_t size, const std::string& name) {
  Manifest m;
  m.name = name;
  m.size = size;
  m.piece_size = manifest_piece_size(size);
  for (uint32_t i = 0; i < manifest_piece_count(m); i++) {
    std::string seed = name + "#" + std::to_string(i);
    m.pieces.push_back(manifest_sha256(seed.data(), seed.size()));
  }
  manifest_set_id(&m);
  return m;
}

/* ---- requests -------------------------------------------------------------- */

TEST_CASE("wire: requests are encoded as the downloader has always sent them", "[wire]") {
  std::string out;
  wire_encode_request(request(WIRE_MANIFEST, "a.txt"), &out);
  CHECK(out == "{\"action\":\"manifest\",\"file\":\"a.txt\"}\n");
  out.clear();
  wire_encode_request(request(WIRE_HAVE, "a.txt"), &out);
  CHECK(out == "{\"action\":\"have\",\"file\":\"a.txt\"}\n");
  out.clear();
  wire_encode_request(request(WIRE_PIECE, "a.txt", 3), &out);
  CHECK(out == "{\"action\":\"piece\",\"file\":\"a.txt\",\"index\":3}\n");
  // Encoders append.
  wire_encode_request(request(WIRE_PIECE, "b", 4294967295u), &out);
  CHECK(out ==
        "{\"action\":\"piece\",\"file\":\"a.txt\",\"index\":3}\n"
        "{\"action\":\"piece\",\"file\":\"b\",\"index\":4294967295}\n");
}

TEST_CASE("wire: the extension fields of requests", "[wire]") {
  std::string out;
  wire_encode_request(request(WIRE_HAVE, "a.txt", 0, "", true), &out);
  CHECK(out == "{\"action\":\"have\",\"file\":\"a.txt\",\"watch\":true}\n");
  out.clear();
  wire_encode_request(request(WIRE_PIECE, "a.txt", 9, "ff80"), &out);
  CHECK(out == "{\"action\":\"piece\",\"file\":\"a.txt\",\"index\":9,\"want\":\"ff80\"}\n");
  // Fields of other actions are not written.
  out.clear();
  wire_encode_request(request(WIRE_MANIFEST, "a.txt", 9, "ff", true), &out);
  CHECK(out == "{\"action\":\"manifest\",\"file\":\"a.txt\"}\n");
  out.clear();
  wire_encode_request(request(WIRE_HAVE, "a.txt", 9, "ff", false), &out);
  CHECK(out == "{\"action\":\"have\",\"file\":\"a.txt\"}\n");

  WireRequest r = round_trip(request(WIRE_HAVE, "x", 0, "", true));
  CHECK(r.action == WIRE_HAVE);
  CHECK(r.watch);
  r = round_trip(request(WIRE_PIECE, "x", 17, "0f"));
  CHECK(r.action == WIRE_PIECE);
  CHECK(r.index == 17);
  CHECK(r.want == "0f");
  CHECK_FALSE(r.watch);

  std::string why;
  REQUIRE(decode_req(R"({"action":"have","file":"x","watch":false})", &r, &why) == 0);
  CHECK_FALSE(r.watch);
  REQUIRE(decode_req(R"({"action":"piece","file":"x","index":0,"want":""})", &r, &why) == 0);
  CHECK(r.want.empty());
}

TEST_CASE("wire: request names round-trip whatever bytes they hold", "[wire]") {
  std::vector<std::string> names = {
      "a.txt",
      "say \"hi\".txt",
      "back\\slash",  // refused below: a name, not a path
      "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.txt",
      "\xf0\x9f\x98\x80",
      "{brace}",
      "tab\there",  // refused below: a control character
      std::string(255, 'n'),
      repeat("\"\xc3\xa9", 85),  // 255 bytes, each character escaped or multi-byte
  };
  for (const std::string& name : names) {
    INFO(name);
    std::string why;
    bool valid = proto_check_name(name, &why) == 0;
    for (WireAction a : {WIRE_MANIFEST, WIRE_HAVE, WIRE_PIECE}) {
      WireRequest r = request(a, name, 5, a == WIRE_PIECE ? "ff" : "", a == WIRE_HAVE);
      std::string line;
      wire_encode_request(r, &line);
      std::string body = unline(line);
      WireRequest back;
      std::string reason;
      int rc = decode_req(body, &back, &reason);
      if (!valid) {
        CHECK(rc == -1);
        CHECK(reason == why);
        continue;
      }
      REQUIRE(rc == 0);
      CHECK(back.action == a);
      CHECK(back.file == name);
      CHECK(back.index == (a == WIRE_PIECE ? 5u : 0u));
      CHECK(back.want == (a == WIRE_PIECE ? "ff" : ""));
      CHECK(back.watch == (a == WIRE_HAVE));
    }
  }
  // The two names in the list that are refused are refused for the right reason.
  CHECK(req_refusal(R"({"action":"have","file":"back\\slash"})") ==
        "file name may not contain '/' or '\\' (a name, not a path)");
  CHECK(req_refusal(R"({"action":"have","file":"tab\there"})") ==
        "file name may not contain control characters");
  // JSON escapes a sender may use for any character are read.
  WireRequest r;
  std::string why;
  REQUIRE(decode_req(R"({"action":"have","file":"caf\u00e9 \"q\""})", &r, &why) == 0);
  CHECK(r.file == "caf\xc3\xa9 \"q\"");
}

TEST_CASE("wire: requests decode as the server reads them today", "[wire]") {
  WireRequest r;
  std::string why;
  REQUIRE(decode_req(R"({"action":"manifest","file":"a.txt"})", &r, &why) == 0);
  CHECK(r.action == WIRE_MANIFEST);
  CHECK(r.file == "a.txt");
  // Unknown members, and the members of other actions, are ignored.
  REQUIRE(decode_req(R"({"file":"a.txt","v":2,"x":[1,{"y":null}],"action":"have","index":"no"})",
                     &r, &why) == 0);
  CHECK(r.action == WIRE_HAVE);
  CHECK(r.index == 0);
  REQUIRE(decode_req(R"({"action":"manifest","file":"a","want":7,"watch":"yes"})", &r, &why) == 0);
  CHECK(r.want.empty());
  CHECK_FALSE(r.watch);
  REQUIRE(decode_req(R"({"action":"piece","file":"a","index":0,"watch":3})", &r, &why) == 0);
  CHECK(r.index == 0);
  REQUIRE(decode_req(R"({"action":"have","file":"a","want":3})", &r, &why) == 0);
  // Whitespace around and inside the object.
  REQUIRE(decode_req(" { \"action\" : \"piece\" , \"file\" : \"a\" , \"index\" : 4294967295 } ", &r,
                     &why) == 0);
  CHECK(r.index == 4294967295u);
  // A decode starts from a clean value.
  r.want = "stale";
  r.watch = true;
  REQUIRE(decode_req(R"({"action":"piece","file":"a","index":1})", &r, &why) == 0);
  CHECK(r.want.empty());
  CHECK_FALSE(r.watch);
}

TEST_CASE("wire: malformed requests are refused with a reason", "[wire]") {
  const std::string kNotObject = "a request is one JSON object per line";
  CHECK(req_refusal("") == kNotObject);
  CHECK(req_refusal("a.txt") == kNotObject);
  CHECK(req_refusal("{") == kNotObject);
  CHECK(req_refusal(R"({"action":"have","file":"a"}x)") == kNotObject);
  CHECK(req_refusal(R"({"action":"have","file":"a"}{})") == kNotObject);
  CHECK(req_refusal(R"([{"action":"have","file":"a"}])") == kNotObject);
  CHECK(req_refusal("\"have\"") == kNotObject);
  CHECK(req_refusal("null") == kNotObject);
  CHECK(req_refusal("3") == kNotObject);
  CHECK(req_refusal("{\"action\":\"have\",\"file\":\"a\xff\"}") == kNotObject);  // not UTF-8
  // RapidJSON would read a NUL after the object as the end of the input.
  const std::string kNul(1, '\0');
  CHECK(req_refusal(R"({"action":"have","file":"a"})" + kNul + "junk") == kNotObject);
  CHECK(req_refusal(R"({"action":"have","file":"a"})" + kNul) == kNotObject);
  CHECK(req_refusal(R"({"action":"have","file":"a"} )" + kNul) == kNotObject);

  CHECK(req_refusal(R"({"file":"a"})") == "missing field 'action'");
  CHECK(req_refusal(R"({"action":1,"file":"a"})") == "missing field 'action'");
  CHECK(req_refusal(R"({"action":null,"file":"a"})") == "missing field 'action'");
  CHECK(req_refusal(R"({"action":"have"})") == "missing field 'file'");
  CHECK(req_refusal(R"({"action":"have","file":["a"]})") == "missing field 'file'");
  CHECK(req_refusal(R"({"action":"have","file":7})") == "missing field 'file'");

  CHECK(req_refusal(R"({"action":"have","file":""})") == "file name is empty");
  CHECK(req_refusal(R"({"action":"have","file":".."})") == "file name may not be '.' or '..'");
  CHECK(req_refusal(R"({"action":"have","file":"."})") == "file name may not be '.' or '..'");
  CHECK(req_refusal(R"({"action":"have","file":"a/b"})") ==
        "file name may not contain '/' or '\\' (a name, not a path)");
  CHECK(req_refusal(R"({"action":"have","file":"a\u0000b"})") ==
        "file name may not contain control characters");
  CHECK(req_refusal(R"({"action":"have","file":")" + std::string(256, 'n') + "\"}") ==
        "file name is longer than 255 bytes");
  // The name is checked before the action, as the server does.
  CHECK(req_refusal(R"({"action":"fly","file":"a/b"})") ==
        "file name may not contain '/' or '\\' (a name, not a path)");

  CHECK(req_refusal(R"({"action":"fly","file":"a"})") == "unknown action 'fly'");
  CHECK(req_refusal(R"({"action":"","file":"a"})") == "unknown action ''");
  CHECK(req_refusal(R"({"action":"Piece","file":"a"})") == "unknown action 'Piece'");
  CHECK(req_refusal(R"({"action":"piece\u0000","file":"a","index":1})") ==
        "unknown action 'piece\\x00'");
  CHECK(req_refusal(R"({"action":")" + std::string(100, 'z') + R"(","file":"a"})") ==
        "unknown action '" + std::string(40, 'z') + "...'");

  const std::string kIndex = "field 'index' must be a piece number";
  CHECK(req_refusal(R"({"action":"piece","file":"a"})") == kIndex);
  CHECK(req_refusal(R"({"action":"piece","file":"a","index":-1})") == kIndex);
  CHECK(req_refusal(R"({"action":"piece","file":"a","index":4294967296})") == kIndex);
  CHECK(req_refusal(R"({"action":"piece","file":"a","index":18446744073709551616})") == kIndex);
  CHECK(req_refusal(R"({"action":"piece","file":"a","index":1.5})") == kIndex);
  CHECK(req_refusal(R"({"action":"piece","file":"a","index":1.0})") == kIndex);
  CHECK(req_refusal(R"({"action":"piece","file":"a","index":1e2})") == kIndex);
  CHECK(req_refusal(R"({"action":"piece","file":"a","index":"3"})") == kIndex);
  CHECK(req_refusal(R"({"action":"piece","file":"a","index":null})") == kIndex);
  CHECK(req_refusal(R"({"action":"piece","file":"a","index":true})") == kIndex);

  CHECK(req_refusal(R"({"action":"piece","file":"a","index":1,"want":255})") ==
        "field 'want' must be a piece list (hex)");
  CHECK(req_refusal(R"({"action":"piece","file":"a","index":1,"want":["ff"]})") ==
        "field 'want' must be a piece list (hex)");
  CHECK(req_refusal(R"({"action":"piece","file":"a","index":1,"want":null})") ==
        "field 'want' must be a piece list (hex)");
  CHECK(req_refusal(R"({"action":"have","file":"a","watch":1})") ==
        "field 'watch' must be true or false");
  CHECK(req_refusal(R"({"action":"have","file":"a","watch":"true"})") ==
        "field 'watch' must be true or false");
  CHECK(req_refusal(R"({"action":"have","file":"a","watch":null})") ==
        "field 'watch' must be true or false");

  // Deep nesting is refused or ignored without using the C stack (iterative parse).
  std::string deep = R"({"action":"have","file":"a","x":)" + std::string(100000, '[') +
                     std::string(100000, ']') + "}";
  CHECK(req_refusal(deep) == "");
  CHECK(req_refusal(std::string(100000, '[')) == kNotObject);
}

/* ---- answers --------------------------------------------------------------- */

TEST_CASE("wire: answers are encoded as the server has always written them", "[wire]") {
  std::string out;
  wire_encode_piece_header(3, 262144, &out);
  CHECK(out == "{\"status\":\"ok\",\"index\":3,\"length\":262144}\n");
  out.clear();
  wire_encode_piece_header(4294967295u, 18446744073709551615ull, &out);
  CHECK(out == "{\"status\":\"ok\",\"index\":4294967295,\"length\":18446744073709551615}\n");
  out.clear();
  wire_encode_have_answer("ff80", &out);
  CHECK(out == "{\"status\":\"ok\",\"pieces\":\"ff80\"}\n");
  out.clear();
  wire_encode_have_answer("", &out);
  CHECK(out == "{\"status\":\"ok\",\"pieces\":\"\"}\n");

  Manifest m = sample_manifest(600000, "movie \"1\".mkv");
  std::string mj;
  manifest_encode(m, &mj);
  out.clear();
  wire_encode_manifest_answer(m, &out);
  CHECK(out == "{\"status\":\"ok\",\"manifest\":" + mj + "}\n");

  out.clear();
  wire_encode_error("no such file: a.txt", &out);
  CHECK(out == "{\"status\":\"error\",\"message\":\"no such file: a.txt\"}\n");
  std::string e;
  proto_encode_error("piece 3 is not here yet \"\\\x01", &e);
  out.clear();
  wire_encode_error("piece 3 is not here yet \"\\\x01", &out);
  CHECK(out == e + "\n");

  out.clear();
  wire_encode_have_event(7, &out);
  CHECK(out == "{\"event\":\"have\",\"index\":7}\n");

  // Encoders append.
  out = "x";
  wire_encode_have_event(0, &out);
  wire_encode_error("", &out);
  CHECK(out == "x{\"event\":\"have\",\"index\":0}\n{\"status\":\"error\",\"message\":\"\"}\n");
}

TEST_CASE("wire: every answer form round-trips", "[wire]") {
  WireAnswer a;
  std::string line, why;

  wire_encode_piece_header(3, 262144, &line);
  REQUIRE(decode_ans(unline(line), &a, &why) == 0);
  CHECK(a.kind == WIRE_ANS_PIECE);
  CHECK(a.index == 3);
  CHECK(a.length == 262144);
  line.clear();
  wire_encode_piece_header(4294967295u, 18446744073709551615ull, &line);
  REQUIRE(decode_ans(unline(line), &a, &why) == 0);
  CHECK(a.kind == WIRE_ANS_PIECE);
  CHECK(a.index == 4294967295u);
  CHECK(a.length == 18446744073709551615ull);

  line.clear();
  wire_encode_have_answer("ff80", &line);
  REQUIRE(decode_ans(unline(line), &a, &why) == 0);
  CHECK(a.kind == WIRE_ANS_HAVE);
  CHECK(a.pieces == "ff80");

  for (uint64_t size : {0ull, 1ull, 262144ull, 262145ull, 300ull << 20}) {
    for (const char* name : {"a.txt", "q\"b\\s/\xc3\xa9", ""}) {
      Manifest m = sample_manifest(size, name);
      line.clear();
      wire_encode_manifest_answer(m, &line);
      REQUIRE(decode_ans(unline(line), &a, &why) == 0);
      CHECK(a.kind == WIRE_ANS_MANIFEST);
      CHECK(a.manifest.name == m.name);
      CHECK(a.manifest.size == m.size);
      CHECK(a.manifest.piece_size == m.piece_size);
      CHECK(a.manifest.pieces == m.pieces);
      CHECK(a.manifest.id == m.id);
    }
  }

  for (const std::string& msg : {std::string("no such file: a.txt"), std::string(""),
                                 std::string("q\"\\\x01\t\n\x7f \xc3\xa9")}) {
    line.clear();
    wire_encode_error(msg, &line);
    REQUIRE(decode_ans(unline(line), &a, &why) == 0);
    CHECK(a.kind == WIRE_ANS_ERROR);
    CHECK(a.message == msg);
  }

  for (uint32_t i : {0u, 7u, 4294967295u}) {
    line.clear();
    wire_encode_have_event(i, &line);
    REQUIRE(decode_ans(unline(line), &a, &why) == 0);
    CHECK(a.kind == WIRE_EVENT_HAVE);
    CHECK(a.index == i);
  }
}

TEST_CASE("wire: answers are classified by their fields", "[wire]") {
  WireAnswer a;
  std::string why;
  // Any status other than "ok" is an error, with or without a message.
  REQUIRE(decode_ans(R"({"status":"error"})", &a, &why) == 0);
  CHECK(a.kind == WIRE_ANS_ERROR);
  CHECK(a.message.empty());
  REQUIRE(decode_ans(R"({"status":"busy","message":7,"index":1,"length":2})", &a, &why) == 0);
  CHECK(a.kind == WIRE_ANS_ERROR);
  CHECK(a.message.empty());
  REQUIRE(decode_ans(R"({"status":"OK","pieces":"ff"})", &a, &why) == 0);
  CHECK(a.kind == WIRE_ANS_ERROR);
  REQUIRE(decode_ans(R"({"status":"ok\u0000","pieces":"ff"})", &a, &why) == 0);
  CHECK(a.kind == WIRE_ANS_ERROR);
  REQUIRE(decode_ans(R"({"message":"gone","status":"error"})", &a, &why) == 0);
  CHECK(a.message == "gone");
  // Unknown members are ignored.
  REQUIRE(decode_ans(R"({"v":2,"status":"ok","extra":{"a":[1]},"pieces":"00"})", &a, &why) == 0);
  CHECK(a.kind == WIRE_ANS_HAVE);
  CHECK(a.pieces == "00");
  // The pieces string is not parsed here (its length needs the piece count).
  REQUIRE(decode_ans(R"({"status":"ok","pieces":"not hex"})", &a, &why) == 0);
  CHECK(a.pieces == "not hex");
  // A manifest that is not an object does not make a manifest answer.
  REQUIRE(decode_ans(R"({"status":"ok","manifest":"x","pieces":"80"})", &a, &why) == 0);
  CHECK(a.kind == WIRE_ANS_HAVE);
  // A piece length is a uint64; an index a uint32.
  REQUIRE(decode_ans(R"({"status":"ok","index":0,"length":0})", &a, &why) == 0);
  CHECK(a.kind == WIRE_ANS_PIECE);
  REQUIRE(decode_ans(R"({"length":5000000000,"status":"ok","index":2})", &a, &why) == 0);
  CHECK(a.length == 5000000000ull);
  CHECK(a.index == 2);
  // An event is an event whatever else the line holds.
  REQUIRE(decode_ans(R"({"event":"have","index":4,"status":"error"})", &a, &why) == 0);
  CHECK(a.kind == WIRE_EVENT_HAVE);
  CHECK(a.index == 4);
  // A malformed event is read as an answer: it has none of the forms.
  CHECK(ans_refused(R"({"event":"have","index":-1})"));
  CHECK(ans_refused(R"({"event":"have","index":4294967296})"));
  CHECK(ans_refused(R"({"event":"have","index":"4"})"));
  CHECK(ans_refused(R"({"event":"have"})"));
  CHECK(ans_refused(R"({"event":"lost","index":4})"));
  CHECK(ans_refused(R"({"event":7,"index":4})"));
  REQUIRE(decode_ans(R"({"event":"lost","index":4,"status":"ok","pieces":"f0"})", &a, &why) == 0);
  CHECK(a.kind == WIRE_ANS_HAVE);
  // A decode starts from a clean value.
  a.message = "stale";
  a.pieces = "stale";
  REQUIRE(decode_ans(R"({"status":"ok","index":1,"length":2})", &a, &why) == 0);
  CHECK(a.message.empty());
  CHECK(a.pieces.empty());
}

TEST_CASE("wire: malformed answers are refused with a reason", "[wire]") {
  CHECK(ans_refused(""));
  CHECK(ans_refused("ok"));
  CHECK(ans_refused(R"([{"status":"ok","pieces":"ff"}])"));
  CHECK(ans_refused(R"({"status":"ok","pieces":"ff"})"
                    "\n"
                    R"({})"));
  CHECK(ans_refused("{\"status\":\"error\",\"message\":\"\xc3\"}"));  // not UTF-8
  CHECK(ans_refused(R"({"status":"ok","pieces":"ff"})" + std::string(1, '\0') + "x"));
  CHECK(ans_refused(R"({})"));
  CHECK(ans_refused(R"({"pieces":"ff"})"));
  CHECK(ans_refused(R"({"status":1,"pieces":"ff"})"));
  CHECK(ans_refused(R"({"status":null,"message":"x"})"));
  CHECK(ans_refused(R"({"status":"ok"})"));
  CHECK(ans_refused(R"({"status":"ok","pieces":255})"));
  CHECK(ans_refused(R"({"status":"ok","manifest":null})"));
  CHECK(ans_refused(R"({"status":"ok","index":1})"));
  CHECK(ans_refused(R"({"status":"ok","length":1})"));
  CHECK(ans_refused(R"({"status":"ok","index":-1,"length":1})"));
  CHECK(ans_refused(R"({"status":"ok","index":4294967296,"length":1})"));
  CHECK(ans_refused(R"({"status":"ok","index":1.5,"length":1})"));
  CHECK(ans_refused(R"({"status":"ok","index":"1","length":1})"));
  CHECK(ans_refused(R"({"status":"ok","index":1,"length":-1})"));
  CHECK(ans_refused(R"({"status":"ok","index":1,"length":18446744073709551616})"));
  CHECK(ans_refused(R"({"status":"ok","index":1,"length":2.0})"));
  CHECK(ans_refused(R"({"status":"ok","index":1,"length":"2"})"));

  // A manifest that manifest_decode refuses: its reason is the answer's.
  WireAnswer a;
  std::string why;
  CHECK(decode_ans(R"({"status":"ok","manifest":{"name":"a"}})", &a, &why) == -1);
  CHECK(why == "manifest has no valid size");
  CHECK(decode_ans(R"({"status":"ok","manifest":{"size":1,"piece_size":262144,"pieces":[]}})", &a,
                   &why) == -1);
  CHECK(why == "manifest piece count does not match its size");
  CHECK(decode_ans(R"({"status":"ok","manifest":{"size":0,"piece_size":1000,"pieces":[]}})", &a,
                   &why) == -1);
  CHECK(why == "manifest piece_size is not a power of two in range");
  std::string upper = std::string(R"({"status":"ok","manifest":{"size":1,"piece_size":262144,)") +
                      R"("pieces":[")" + std::string(64, 'A') + R"("]}})";
  CHECK(decode_ans(upper, &a, &why) == -1);
  CHECK(why == "manifest piece hash is not lowercase hex");
}

/* ---- bitfields ------------------------------------------------------------- */

TEST_CASE("wire: bitfields to hex", "[wire]") {
  CHECK(wire_bitfield_hex({}, 0) == "");
  CHECK(wire_bitfield_hex({1}, 1) == "80");
  CHECK(wire_bitfield_hex({0}, 1) == "00");
  CHECK(wire_bitfield_hex({1, 0, 1, 0, 1, 0, 1}, 7) == "aa");
  CHECK(wire_bitfield_hex({1, 1, 1, 1, 1, 1, 1, 1}, 8) == "ff");
  CHECK(wire_bitfield_hex({1, 1, 1, 1, 1, 1, 1, 1, 1}, 9) == "ff80");
  CHECK(wire_bitfield_hex({0, 0, 0, 0, 0, 0, 0, 0, 1}, 9) == "0080");
  // Any non-zero byte is a piece had; entries past the count are not written,
  // and missing ones are pieces not had.
  CHECK(wire_bitfield_hex({2, 0, 0, 0, 0, 0, 0, 0, 1, 1}, 9) == "8080");
  CHECK(wire_bitfield_hex({1}, 9) == "8000");
  std::vector<uint8_t> all(1024, 1);
  CHECK(wire_bitfield_hex(all, 1024) == std::string(256, 'f'));
}

TEST_CASE("wire: bitfields from hex", "[wire]") {
  std::vector<uint8_t> h = {9, 9};
  REQUIRE(wire_bitfield_parse("", 0, &h) == 0);
  CHECK(h.empty());
  REQUIRE(wire_bitfield_parse("80", 1, &h) == 0);
  CHECK(h == std::vector<uint8_t>{1});
  REQUIRE(wire_bitfield_parse("00", 1, &h) == 0);
  CHECK(h == std::vector<uint8_t>{0});
  REQUIRE(wire_bitfield_parse("aa", 7, &h) == 0);
  CHECK(h == std::vector<uint8_t>{1, 0, 1, 0, 1, 0, 1});
  REQUIRE(wire_bitfield_parse("ff", 8, &h) == 0);
  CHECK(h == std::vector<uint8_t>(8, 1));
  REQUIRE(wire_bitfield_parse("ff80", 9, &h) == 0);
  CHECK(h == std::vector<uint8_t>(9, 1));
  REQUIRE(wire_bitfield_parse("0080", 9, &h) == 0);
  CHECK(h == std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 0, 1});

  // Round trips of every pattern of a few pieces, and of a large set.
  for (size_t n = 0; n <= 12; n++) {
    for (uint32_t bits = 0; bits < (1u << n); bits++) {
      std::vector<uint8_t> have(n);
      for (size_t i = 0; i < n; i++)
        have[i] = (bits >> i) & 1;
      std::string hex = wire_bitfield_hex(have, n);
      CHECK(hex.size() == (n + 7) / 8 * 2);
      std::vector<uint8_t> back;
      REQUIRE(wire_bitfield_parse(hex, n, &back) == 0);
      CHECK(back == have);
    }
  }
  std::vector<uint8_t> big(1024);
  for (size_t i = 0; i < big.size(); i++)
    big[i] = (i * 7 + i / 3) % 5 == 0;
  std::string hex = wire_bitfield_hex(big, 1024);
  CHECK(hex.size() == 256);
  REQUIRE(wire_bitfield_parse(hex, 1024, &h) == 0);
  CHECK(h == big);
  REQUIRE(wire_bitfield_parse(std::string(256, '0'), 1024, &h) == 0);
  CHECK(h == std::vector<uint8_t>(1024, 0));
}

TEST_CASE("wire: malformed bitfields are refused", "[wire]") {
  std::vector<uint8_t> h = {7};
  // Wrong length.
  CHECK(wire_bitfield_parse("00", 0, &h) == -1);
  CHECK(wire_bitfield_parse("", 1, &h) == -1);
  CHECK(wire_bitfield_parse("8", 1, &h) == -1);
  CHECK(wire_bitfield_parse("800", 1, &h) == -1);
  CHECK(wire_bitfield_parse("ff", 9, &h) == -1);
  CHECK(wire_bitfield_parse("ff8000", 9, &h) == -1);
  CHECK(wire_bitfield_parse(std::string(254, 'f'), 1024, &h) == -1);
  CHECK(wire_bitfield_parse(std::string(258, 'f'), 1024, &h) == -1);
  // Bits past the last piece.
  CHECK(wire_bitfield_parse("ff", 7, &h) == -1);
  CHECK(wire_bitfield_parse("c0", 1, &h) == -1);
  CHECK(wire_bitfield_parse("81", 1, &h) == -1);
  CHECK(wire_bitfield_parse("ffc0", 9, &h) == -1);
  CHECK(wire_bitfield_parse("ff01", 9, &h) == -1);
  CHECK(wire_bitfield_parse("0001", 9, &h) == -1);
  // Not lowercase hex: uppercase is refused, as hex_digit reads only lowercase
  // (the one form hex takes on the wire), wherever the digit is.
  CHECK(wire_bitfield_parse("FF", 8, &h) == -1);
  CHECK(wire_bitfield_parse("Aa", 7, &h) == -1);
  CHECK(wire_bitfield_parse("fF80", 9, &h) == -1);
  CHECK(wire_bitfield_parse("8g", 1, &h) == -1);
  CHECK(wire_bitfield_parse("8 ", 1, &h) == -1);
  CHECK(wire_bitfield_parse(std::string("8\0", 2), 1, &h) == -1);
  CHECK(wire_bitfield_parse("ff8x", 9, &h) == -1);
  CHECK(wire_bitfield_parse("0x", 1, &h) == -1);
  CHECK(wire_bitfield_parse("-1", 1, &h) == -1);
  // A refusal leaves the output as it was.
  CHECK(h == std::vector<uint8_t>{7});
}
