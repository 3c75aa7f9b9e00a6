// netaddr: every host flag resolves through net_resolve_ipv4.
#include <catch2/catch.hpp>

#include "netaddr.h"

TEST_CASE("netaddr: IPv4 addresses pass, names resolve, the rest is refused", "[netaddr]") {
  std::string ip, why;
  REQUIRE(net_resolve_ipv4("127.0.0.1", &ip, &why) == 0);
  CHECK(ip == "127.0.0.1");
  REQUIRE(net_resolve_ipv4("0.0.0.0", &ip, &why) == 0);
  CHECK(ip == "0.0.0.0");
  REQUIRE(net_resolve_ipv4("localhost", &ip, &why) == 0);
  CHECK(ip.compare(0, 4, "127.") == 0);
  CHECK(net_resolve_ipv4("", &ip, &why) == -1);
  CHECK(net_resolve_ipv4("::1", &ip, &why) == -1);
  CHECK(why.find("IPv6") != std::string::npos);
  CHECK(net_resolve_ipv4("no such host", &ip, &why) == -1);
  CHECK(net_resolve_ipv4("nosuch.invalid", &ip, &why) == -1);
  CHECK(why.find("does not resolve") != std::string::npos);
}

TEST_CASE("netaddr: HOST:PORT resolves the host and checks the port", "[netaddr]") {
  std::string out, why;
  REQUIRE(net_resolve_hostport("localhost:6771", &out, &why) == 0);
  CHECK(out.compare(0, 4, "127.") == 0);
  CHECK(out.substr(out.size() - 5) == ":6771");
  REQUIRE(net_resolve_hostport("10.1.2.3:1", &out, &why) == 0);
  CHECK(out == "10.1.2.3:1");
  CHECK(net_resolve_hostport("nohostport", &out, &why) == -1);
  CHECK(net_resolve_hostport(":6771", &out, &why) == -1);
  CHECK(net_resolve_hostport("127.0.0.1:", &out, &why) == -1);
  CHECK(net_resolve_hostport("127.0.0.1:0", &out, &why) == -1);
  CHECK(net_resolve_hostport("127.0.0.1:65536", &out, &why) == -1);
  CHECK(net_resolve_hostport("127.0.0.1:+80", &out, &why) == -1);
  CHECK(net_resolve_hostport("nosuch.invalid:80", &out, &why) == -1);
}
