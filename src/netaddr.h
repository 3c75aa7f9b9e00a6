// Host names and addresses as the command line gives them: every host flag
// (tracker --host and --http, peer --host, --tracker HOST:PORT) goes through
// net_resolve_ipv4, so each accepts the same things. Owns nothing; called from
// main.cc before any loop runs (getaddrinfo may block). net_peer_ipv4 reads
// the address of an accepted connection (serve.cc, http.cc).
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

// Resolves an IPv4 address ("127.0.0.1") or a host name ("localhost") to a
// dotted IPv4 address. Returns 0 with *ip set, or -1 with *why saying why in
// words (no address, not IPv4, ...).
int net_resolve_ipv4(const std::string& host, std::string* ip, std::string* why);

// Splits "HOST:PORT" and resolves HOST as above; *out becomes "IP:PORT".
// Returns 0, or -1 with *why saying what is wrong.
int net_resolve_hostport(const std::string& s, std::string* out, std::string* why);

// The IPv4 address (network byte order) at the other end of a connected TCP
// handle; 0 when there is none (not connected, or not IPv4).
uint32_t net_peer_ipv4(const uv_tcp_t* tcp);
