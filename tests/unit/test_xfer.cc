// serve.h: classifying the first bytes of a TCP request (xfer_parse_request),
// and the server's tables of connections and upload slots.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

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

static ServeSlot slot(uint32_t ip, bool idle, uint64_t since) {
  ServeSlot s;
  s.ip = ip;
  s.idle = idle;
  s.since = since;
  return s;
}

TEST_CASE("xfer: room for a new connection comes from its own address first", "[xfer]") {
  bool refuse = true;
  std::vector<ServeSlot> slots = {slot(1, true, 50), slot(1, true, 10), slot(2, true, 5)};
  // Under both caps: nothing to close.
  CHECK(serve_pick_victim(slots, 1, 3, 8, &refuse) == -1);
  CHECK_FALSE(refuse);
  // Address 1 holds its share (2): its oldest idle connection goes, not address 2's.
  CHECK(serve_pick_victim(slots, 1, 2, 8, &refuse) == 1);
  CHECK_FALSE(refuse);
  // ... none of its connections idle: the new one is turned away.
  slots[0].idle = slots[1].idle = false;
  CHECK(serve_pick_victim(slots, 1, 2, 8, &refuse) == -1);
  CHECK(refuse);
}

TEST_CASE("xfer: a full table makes room from the address holding the most", "[xfer]") {
  bool refuse = true;
  std::vector<ServeSlot> slots = {slot(7, true, 1), slot(9, true, 30), slot(9, true, 20),
                                  slot(9, false, 0)};
  // A new address (3) is served: the oldest idle connection of address 9 goes,
  // though address 7's is older.
  CHECK(serve_pick_victim(slots, 3, 64, 4, &refuse) == 2);
  CHECK_FALSE(refuse);
  // With address 9 busy, the next address with an idle connection gives one.
  slots[1].idle = slots[2].idle = false;
  CHECK(serve_pick_victim(slots, 3, 64, 4, &refuse) == 0);
  // Nothing idle anywhere: turned away.
  slots[0].idle = false;
  CHECK(serve_pick_victim(slots, 3, 64, 4, &refuse) == -1);
  CHECK(refuse);
}

TEST_CASE("xfer: a freed upload slot goes to the address holding fewest", "[xfer]") {
  // Address 5 holds every slot and queued first: address 8's request goes next.
  CHECK(serve_pick_waiter({5, 5, 8, 5}, {5, 5, 5, 5}) == 2);
  // One address only: in turn.
  CHECK(serve_pick_waiter({5, 5, 5}, {5, 5}) == 0);
  // Address 8 holds one, 9 none.
  CHECK(serve_pick_waiter({8, 9, 8}, {8}) == 1);
}
