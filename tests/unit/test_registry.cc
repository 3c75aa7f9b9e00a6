// registry: the tracker's state changes, as sets.
#include <catch2/catch.hpp>

#include "registry.h"

static std::vector<int> ports(const Registry& reg, const std::string& file,
                              const std::string& exclude = "") {
  std::vector<ProtoAddr> out;
  reg_sources(&reg, file, exclude, &out);
  std::vector<int> r;
  for (const ProtoAddr& a : out)
    r.push_back(a.port);
  return r;
}

TEST_CASE("registry: join registers every listed file", "[registry]") {
  Registry reg;
  CHECK(reg_join(&reg, "1", "127.0.0.1", 1001, {"a", "b"}) == REG_OK);
  CHECK(reg_join(&reg, "2", "127.0.0.1", 1002, {"b"}) == REG_OK);
  CHECK(ports(reg, "a") == std::vector<int>{1001});
  CHECK(ports(reg, "b") == std::vector<int>{1001, 1002});
}

TEST_CASE("registry: repeating a request changes nothing", "[registry]") {
  Registry reg;
  reg_join(&reg, "1", "127.0.0.1", 1001, {"a"});
  CHECK(reg_join(&reg, "1", "127.0.0.1", 1001, {"a"}) == REG_UNCHANGED);
  CHECK(reg_add_file(&reg, "1", "a") == REG_UNCHANGED);
  CHECK(reg_add_file(&reg, "1", "b") == REG_OK);
  CHECK(reg_add_file(&reg, "1", "b") == REG_UNCHANGED);
  CHECK(ports(reg, "a") == std::vector<int>{1001});
  CHECK(reg_find(&reg, "1")->files.size() == 2);
}

TEST_CASE("registry: unknown peers cannot share or leave", "[registry]") {
  Registry reg;
  CHECK(reg_add_file(&reg, "9", "a") == REG_ENOPEER);
  CHECK(reg_leave(&reg, "9") == REG_ENOPEER);
  CHECK(reg.holders.empty());
}

TEST_CASE("registry: leave forgets the peer and its files", "[registry]") {
  Registry reg;
  reg_join(&reg, "1", "127.0.0.1", 1001, {"a", "b"});
  reg_join(&reg, "2", "127.0.0.1", 1002, {"a"});
  CHECK(reg_leave(&reg, "1") == REG_OK);
  CHECK(reg_find(&reg, "1") == nullptr);
  CHECK(ports(reg, "a") == std::vector<int>{1002});
  CHECK(ports(reg, "b").empty());
  CHECK(reg.holders.count("b") == 0);
}

TEST_CASE("registry: a join from a new address starts the id afresh", "[registry]") {
  Registry reg;
  reg_join(&reg, "1", "127.0.0.1", 1001, {"a"});
  CHECK(reg_join(&reg, "1", "127.0.0.1", 2001, {}) == REG_OK);
  CHECK(ports(reg, "a").empty());
  CHECK(reg_find(&reg, "1")->tcp_port == 2001);
}

TEST_CASE("registry: sources leave out the asking peer", "[registry]") {
  Registry reg;
  reg_join(&reg, "1", "127.0.0.1", 1001, {"a"});
  reg_join(&reg, "2", "127.0.0.1", 1002, {"a"});
  CHECK(ports(reg, "a", "1") == std::vector<int>{1002});
  CHECK(ports(reg, "a", "3") == std::vector<int>{1001, 1002});
}
