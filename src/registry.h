// The tracker's state: peer id -> {address, files} and file -> peers, kept as
// sets so that repeating a request changes nothing. Pure data: no libuv and no
// I/O, so the tracker's rules are tested directly (tests/unit/test_registry.cc).
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "proto.h"

struct RegPeer {
  std::string ip;
  int tcp_port = 0;
  std::vector<std::string> files;  // registration order, no duplicates
};

struct Registry {
  std::unordered_map<std::string, RegPeer> peers;
  // file -> ids of the peers that have it, in registration order, no duplicates.
  std::unordered_map<std::string, std::vector<std::string>> holders;
};

enum RegStatus {
  REG_OK = 0,
  REG_UNCHANGED = 1,  // the request repeated what the registry already holds
  REG_ENOPEER = -1,
};

// Registers (or refreshes) a peer and every file it lists. A join from a new
// address or port is a new process under that id: the files of the old one are
// forgotten, since the new process may not serve them.
int reg_join(Registry* reg, const std::string& id, const std::string& ip, int tcp_port,
             const std::vector<std::string>& files);
int reg_add_file(Registry* reg, const std::string& id, const std::string& file);
int reg_leave(Registry* reg, const std::string& id);
const RegPeer* reg_find(const Registry* reg, const std::string& id);
// Addresses of the peers that have `file`, other than `exclude_id`, in registration order.
void reg_sources(const Registry* reg, const std::string& file, const std::string& exclude_id,
                 std::vector<ProtoAddr>* out);
