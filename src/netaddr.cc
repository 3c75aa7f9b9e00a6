// Host flags resolved to IPv4 addresses. See netaddr.h.
#include "netaddr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "out.h"

int net_resolve_ipv4(const std::string& host, std::string* ip, std::string* why) {
  if (host.empty()) {
    *why = "empty host";
    return -1;
  }
  struct in_addr a;
  if (inet_pton(AF_INET, host.c_str(), &a) == 1) {
    *ip = host;
    return 0;
  }
  // Names only: a blank, a slash or a control byte is never part of one, and
  // an IPv6 address is refused with its own reason below.
  if (host.size() > 253 || host.find_first_of(" \t/\\") != std::string::npos) {
    *why = "not an IPv4 address or a host name";
    return -1;
  }
  struct in6_addr a6;
  if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) {
    *why = "an IPv6 address; tt speaks IPv4 only";
    return -1;
  }
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  struct addrinfo* res = nullptr;
  int e = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (e != 0 || res == nullptr) {
    *why = std::string("does not resolve to an IPv4 address (") +
           (e == EAI_SYSTEM ? strerror(errno) : gai_strerror(e)) + ")";
    if (res != nullptr) freeaddrinfo(res);
    return -1;
  }
  char buf[INET_ADDRSTRLEN];
  const struct sockaddr_in* sin = reinterpret_cast<const struct sockaddr_in*>(res->ai_addr);
  inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
  freeaddrinfo(res);
  *ip = buf;
  return 0;
}

int net_resolve_hostport(const std::string& s, std::string* out, std::string* why) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= s.size()) {
    *why = "expected HOST:PORT, e.g. 127.0.0.1:6771";
    return -1;
  }
  std::string port = s.substr(colon + 1);
  char* end = nullptr;
  long p = strtol(port.c_str(), &end, 10);
  if (port.find_first_not_of("0123456789") != std::string::npos || *end != '\0' || p < 1 ||
      p > 65535) {
    *why = "port must be an integer from 1 to 65535, not '" + out_sanitize(port) + "'";
    return -1;
  }
  std::string ip;
  if (net_resolve_ipv4(s.substr(0, colon), &ip, why) != 0) return -1;
  *out = ip + ":" + std::to_string(p);
  return 0;
}

uint32_t net_peer_ipv4(const uv_tcp_t* tcp) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<struct sockaddr*>(&ss), &len) != 0 ||
      ss.ss_family != AF_INET)
    return 0;
  return reinterpret_cast<struct sockaddr_in*>(&ss)->sin_addr.s_addr;
}
