// The tracker's state: peer id -> {address, files, liveness} and file -> peers,
// kept as sets so that repeating a request changes nothing. Pure data: no libuv
// and no I/O (time is passed in), so the tracker's rules are tested directly
// (tests/unit/test_registry.cc).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "proto.h"

struct RegPeer {
  std::string ip;
  int tcp_port = 0;
  int udp_port = 0;       // the source port of its join: requests for the id come from here
  bool extended = false;  // joined with "v":1: proves ownership with a token, heartbeats
  int64_t last_seen = 0;  // ms: last sign of life (a request, a heartbeat, a probe)
  std::vector<std::string> files;  // registration order, no duplicates
};

// One peer's copy of a file.
struct RegHolder {
  std::string peer_id;
  bool complete = true;  // false: a downloader serving the pieces it has verified
  int64_t size = -1;     // as announced; -1 when not (seed peers)
  std::string cid;       // content id as announced; empty when not
};

// What get_peers tells about a file besides its sources.
struct RegFileInfo {
  int64_t size = -1;
  std::string cid;
};

struct Registry {
  std::unordered_map<std::string, RegPeer> peers;
  // file -> the peers that have it, in registration order, one entry per peer.
  std::unordered_map<std::string, std::vector<RegHolder>> holders;
  int64_t ttl_ms = 90 * 1000;   // a peer unseen this long is gone
  std::mt19937_64 rng{0x7474};  // for random selections of sources
};

enum RegStatus {
  REG_OK = 0,
  REG_UNCHANGED = 1,  // the request repeated what the registry already holds
  REG_ENOPEER = -1,   // no such peer
  REG_CONFLICT = -2,  // the id is held from another address by a peer not known to be dead
};

// Registers (or refreshes) a peer and every file it lists. The same address
// (ip and tcp_port) is the same process: files are added, and the UDP port it
// now speaks from is recorded. Another address for a
// known id is REG_CONFLICT while the holder may be alive; a holder unseen for
// ttl_ms is replaced, its files forgotten.
int reg_join(Registry* reg, const std::string& id, const std::string& ip, int tcp_port,
             int udp_port, const std::vector<std::string>& files, bool extended, int64_t now);
// Registers a copy of `file` at peer `id`. Announcing it again changes nothing,
// except that a partial copy may become complete and a size or content id may
// be learnt.
int reg_add_file(Registry* reg, const std::string& id, const std::string& file,
                 bool complete = true, int64_t size = -1, const std::string& cid = "");
int reg_leave(Registry* reg, const std::string& id);
const RegPeer* reg_find(const Registry* reg, const std::string& id);
// Records a sign of life.
void reg_touch(Registry* reg, const std::string& id, int64_t now);
bool reg_is_alive(const Registry* reg, const RegPeer& p, int64_t now);
// Up to `want` live peers that have `file`, other than `exclude_id`: all of them
// in registration order when they fit, else a random selection. The file's
// content id is the one its first complete holder announced (else the first
// holder's); holders that announced another id are left out, since their bytes
// would fail verification. *info (optional) gets that id and size.
void reg_sources(Registry* reg, const std::string& file, const std::string& exclude_id, size_t want,
                 int64_t now, std::vector<ProtoSource>* out, RegFileInfo* info = nullptr);
// Removes the peers unseen for ttl_ms; returns their ids.
std::vector<std::string> reg_expire(Registry* reg, int64_t now);
