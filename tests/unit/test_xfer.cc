// xfer: classifying the first bytes of a TCP request.
#include <catch2/catch.hpp>
#include <string>

#include "serve.h"

static XferRequestKind parse(const std::string& s, bool complete, std::string* name) {
  name->clear();
  return xfer_parse_request(s.data(), s.size(), complete, name);
}

TEST_CASE("xfer: a bare name is a seed request, complete at a newline or the end", "[xfer]") {
  std::string name;
  CHECK(parse("example.txt", false, &name) == XREQ_PARTIAL);
  CHECK(name == "example.txt");
  CHECK(parse("example.txt", true, &name) == XREQ_SEED);
  CHECK(parse("example.txt\r\n", false, &name) == XREQ_SEED);
  CHECK(name == "example.txt");
}

TEST_CASE("xfer: a name starting with '{' is still a name; a JSON line is the extended form",
          "[xfer]") {
  std::string name;
  CHECK(parse("{notes}.txt", false, &name) == XREQ_PARTIAL);
  CHECK(name == "{notes}.txt");
  CHECK(parse("{notes}.txt\n", false, &name) == XREQ_SEED);
  CHECK(parse(R"({"action":"have","file":"a"})"
              "\n",
              false, &name) == XREQ_EXTENDED);
  CHECK(parse(R"({"action":"have")", false, &name) ==
        XREQ_PARTIAL);  // a valid name so far: the server waits unless it has it
  CHECK(parse("{" + std::string(600, 'a'), false, &name) == XREQ_NEED_MORE);
  CHECK(parse("{" + std::string(600, 'a'), true, &name) == XREQ_INVALID);
}

TEST_CASE("xfer: paths and bad bytes are never names", "[xfer]") {
  std::string name;
  CHECK(parse("../etc/passwd", true, &name) == XREQ_INVALID);
  CHECK(parse("a/b\n", false, &name) == XREQ_INVALID);
  CHECK(parse("..", true, &name) == XREQ_INVALID);
  CHECK(parse("", true, &name) == XREQ_INVALID);
  CHECK(parse(std::string(300, 'a'), false, &name) == XREQ_INVALID);
  CHECK(parse("caf\xc3", false, &name) == XREQ_NEED_MORE);  // a UTF-8 sequence cut in two
  CHECK(parse("caf\xc3\xa9", false, &name) == XREQ_PARTIAL);
  CHECK(name.empty() == false);
}
