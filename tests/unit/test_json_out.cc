// json_out: the control plane's JSON writer, byte for byte as RapidJSON's
// writer has it (requests were once written with it; peers parse with it).
#include <catch2/catch.hpp>
#include <climits>
#include <cstdint>
#include <string>

#include "json_out.h"
#include "proto.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

static std::string str_of(const std::string& s) {
  std::string out;
  size_t bound = json_str_bound(s.size());
  JsonOut o = json_begin(&out, bound);
  json_str(&o, s);
  json_end(&out, o, bound);
  return out;
}

static std::string rapidjson_str(const std::string& s) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return std::string(sb.GetString(), sb.GetSize());
}

TEST_CASE("json_out: quote, backslash and control bytes are escaped", "[json_out]") {
  CHECK(str_of("") == "\"\"");
  CHECK(str_of("a\"b") == R"("a\"b")");
  CHECK(str_of("a\\b") == R"("a\\b")");
  CHECK(str_of("/") == R"("/")");
  CHECK(str_of("\b\f\n\r\t") == R"("\b\f\n\r\t")");
  CHECK(str_of(std::string("\x00\x01\x1f", 3)) == R"("\u0000\u0001\u001F")");
  // DEL and non-ASCII bytes (valid UTF-8 or not) are kept as they are.
  CHECK(str_of("\x7f") == "\"\x7f\"");
  CHECK(str_of("caf\xc3\xa9 \xe2\x82\xac") == "\"caf\xc3\xa9 \xe2\x82\xac\"");
  CHECK(str_of("\xff\xfe") == "\"\xff\xfe\"");
}

TEST_CASE("json_out: every byte is written as RapidJSON's writer writes it", "[json_out]") {
  for (int c = 0; c < 256; c++) {
    std::string s = "x" + std::string(1, static_cast<char>(c)) + "y";
    INFO("byte " << c);
    CHECK(str_of(s) == rapidjson_str(s));
  }
  // The bound holds for the worst case: nothing but control bytes.
  std::string worst(100, '\x01');
  CHECK(str_of(worst).size() == json_str_bound(worst.size()));
}

TEST_CASE("json_out: integers in decimal, at their limits too", "[json_out]") {
  auto num = [](int64_t v) {
    std::string out;
    JsonOut o = json_begin(&out, kJsonNumBound);
    json_int(&o, v);
    json_end(&out, o, kJsonNumBound);
    return out;
  };
  CHECK(num(0) == "0");
  CHECK(num(9) == "9");
  CHECK(num(10) == "10");
  CHECK(num(99) == "99");
  CHECK(num(100) == "100");
  CHECK(num(-1) == "-1");
  CHECK(num(65535) == "65535");
  CHECK(num(INT64_MAX) == "9223372036854775807");
  CHECK(num(INT64_MIN) == "-9223372036854775808");
  std::string out;
  JsonOut o = json_begin(&out, kJsonNumBound);
  json_uint(&o, UINT64_MAX);
  json_end(&out, o, kJsonNumBound);
  CHECK(out == "18446744073709551615");
}

// A request as RapidJSON's writer writes it: the form peers have always sent.
static std::string rapidjson_request(const ProtoRequest& req) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto str = [&w](const std::string& s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  w.Key("action");
  str(req.action);
  w.Key("peer_id");
  str(req.peer_id);
  w.Key("files");
  w.StartArray();
  for (const std::string& f : req.files)
    str(f);
  w.EndArray();
  w.Key("tcp_port");
  w.Int(req.tcp_port);
  w.Key("file");
  str(req.file);
  w.Key("file_name");
  str(req.file_name);
  w.Key("cursor");
  w.Uint64(req.cursor);
  w.Key("limit");
  w.Int(req.limit);
  w.Key("v");
  w.Int(1);
  w.Key("seq");
  w.Uint64(req.seq);
  w.Key("token");
  str(req.token);
  w.Key("numwant");
  w.Int(req.numwant);
  w.Key("size");
  w.Int64(req.size);
  w.Key("id");
  str(req.id);
  w.Key("complete");
  w.Bool(req.complete);
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

TEST_CASE("json_out: a request with every field is written as RapidJSON writes it", "[json_out]") {
  ProtoRequest r;
  r.action = "a\"ction";
  r.peer_id = std::string("p\\\x01\xc3\xa9", 5);
  r.files = {"", "f\n1", std::string(300, '\x1f')};
  r.tcp_port = 65535;
  r.file = "file\t";
  r.file_name = "name/\x7f";
  r.cursor = UINT64_MAX;
  r.limit = 2147483647;
  r.extended = true;
  r.seq = UINT64_MAX;
  r.token = std::string(32, 'f');
  r.numwant = -5;
  r.size = INT64_MIN;
  r.id = std::string(64, '0');
  r.complete = false;
  r.fields = ~0u;
  std::string out;
  proto_encode_request(r, &out);
  CHECK(out == rapidjson_request(r));
}
