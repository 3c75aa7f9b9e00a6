// Tracker state as sets. See registry.h.
#include "registry.h"

#include <algorithm>

static bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

static void erase_value(std::vector<std::string>* v, const std::string& s) {
  v->erase(std::remove(v->begin(), v->end(), s), v->end());
}

static void drop_files(Registry* reg, const std::string& id, RegPeer* peer) {
  for (const std::string& f : peer->files) {
    auto h = reg->holders.find(f);
    if (h == reg->holders.end()) continue;
    erase_value(&h->second, id);
    if (h->second.empty()) reg->holders.erase(h);
  }
  peer->files.clear();
}

int reg_add_file(Registry* reg, const std::string& id, const std::string& file) {
  auto p = reg->peers.find(id);
  if (p == reg->peers.end()) return REG_ENOPEER;
  if (contains(p->second.files, file)) return REG_UNCHANGED;
  p->second.files.push_back(file);
  reg->holders[file].push_back(id);
  return REG_OK;
}

int reg_join(Registry* reg, const std::string& id, const std::string& ip, int tcp_port,
             const std::vector<std::string>& files) {
  auto p = reg->peers.find(id);
  bool changed = false;
  if (p == reg->peers.end()) {
    p = reg->peers.emplace(id, RegPeer{ip, tcp_port, {}}).first;
    changed = true;
  } else if (p->second.ip != ip || p->second.tcp_port != tcp_port) {
    drop_files(reg, id, &p->second);
    p->second.ip = ip;
    p->second.tcp_port = tcp_port;
    changed = true;
  }
  for (const std::string& f : files) {
    if (reg_add_file(reg, id, f) == REG_OK) changed = true;
  }
  return changed ? REG_OK : REG_UNCHANGED;
}

int reg_leave(Registry* reg, const std::string& id) {
  auto p = reg->peers.find(id);
  if (p == reg->peers.end()) return REG_ENOPEER;
  drop_files(reg, id, &p->second);
  reg->peers.erase(p);
  return REG_OK;
}

const RegPeer* reg_find(const Registry* reg, const std::string& id) {
  auto p = reg->peers.find(id);
  return p == reg->peers.end() ? nullptr : &p->second;
}

void reg_sources(const Registry* reg, const std::string& file, const std::string& exclude_id,
                 std::vector<ProtoAddr>* out) {
  out->clear();
  auto h = reg->holders.find(file);
  if (h == reg->holders.end()) return;
  for (const std::string& id : h->second) {
    if (id == exclude_id) continue;
    const RegPeer* p = reg_find(reg, id);
    if (p != nullptr) out->push_back(ProtoAddr{p->ip, p->tcp_port});
  }
}
