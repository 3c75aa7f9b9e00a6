// Tracker state as sets. See registry.h.
#include "registry.h"

#include <algorithm>

static bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

static void drop_files(Registry* reg, const std::string& id, RegPeer* peer) {
  for (const std::string& f : peer->files) {
    auto h = reg->holders.find(f);
    if (h == reg->holders.end()) continue;
    std::vector<RegHolder>& v = h->second;
    v.erase(std::remove_if(v.begin(), v.end(), [&](const RegHolder& x) { return x.peer_id == id; }),
            v.end());
    if (v.empty()) reg->holders.erase(h);
  }
  peer->files.clear();
}

bool reg_is_alive(const Registry* reg, const RegPeer& p, int64_t now) {
  return now - p.last_seen <= reg->ttl_ms;
}

int reg_add_file(Registry* reg, const std::string& id, const std::string& file, bool complete,
                 int64_t size, const std::string& cid) {
  auto p = reg->peers.find(id);
  if (p == reg->peers.end()) return REG_ENOPEER;
  if (!contains(p->second.files, file)) {
    p->second.files.push_back(file);
    reg->holders[file].push_back(RegHolder{id, complete, size, cid});
    return REG_OK;
  }
  for (RegHolder& h : reg->holders[file]) {
    if (h.peer_id != id) continue;
    bool changed = (complete && !h.complete) || (size >= 0 && size != h.size) ||
                   (!cid.empty() && cid != h.cid);
    if (complete) h.complete = true;
    if (size >= 0) h.size = size;
    if (!cid.empty()) h.cid = cid;
    return changed ? REG_OK : REG_UNCHANGED;
  }
  return REG_UNCHANGED;
}

int reg_join(Registry* reg, const std::string& id, const std::string& ip, int tcp_port,
             int udp_port, const std::vector<std::string>& files, bool extended, int64_t now) {
  auto p = reg->peers.find(id);
  bool changed = false;
  if (p == reg->peers.end()) {
    p = reg->peers.emplace(id, RegPeer{ip, tcp_port, udp_port, extended, now, {}}).first;
    changed = true;
  } else if (p->second.ip != ip || p->second.tcp_port != tcp_port) {
    if (reg_is_alive(reg, p->second, now)) return REG_CONFLICT;
    drop_files(reg, id, &p->second);
    p->second.ip = ip;
    p->second.tcp_port = tcp_port;
    changed = true;
  }
  p->second.udp_port = udp_port;
  p->second.extended = extended;
  p->second.last_seen = now;
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

void reg_touch(Registry* reg, const std::string& id, int64_t now) {
  auto p = reg->peers.find(id);
  if (p != reg->peers.end()) p->second.last_seen = now;
}

void reg_sources(Registry* reg, const std::string& file, const std::string& exclude_id, size_t want,
                 int64_t now, std::vector<ProtoSource>* out, RegFileInfo* info) {
  out->clear();
  RegFileInfo fi;
  auto h = reg->holders.find(file);
  if (h != reg->holders.end()) {
    for (const RegHolder& x : h->second) {
      if (x.cid.empty()) continue;
      if (fi.cid.empty() || x.complete) fi = RegFileInfo{x.size, x.cid};
      if (x.complete) break;
    }
    for (const RegHolder& x : h->second) {
      if (x.peer_id == exclude_id || (!x.cid.empty() && x.cid != fi.cid)) continue;
      const RegPeer* p = reg_find(reg, x.peer_id);
      // Expiry is lazy here: a peer past its ttl is not listed even before the sweep.
      if (p == nullptr || !reg_is_alive(reg, *p, now)) continue;
      out->push_back(ProtoSource{x.peer_id, ProtoAddr{p->ip, p->tcp_port}, x.complete});
    }
  }
  if (info != nullptr) *info = fi;
  if (out->size() <= want) return;
  // More sources than wanted: a uniform random selection (partial Fisher-Yates).
  for (size_t i = 0; i < want; i++) {
    std::uniform_int_distribution<size_t> pick(i, out->size() - 1);
    std::swap((*out)[i], (*out)[pick(reg->rng)]);
  }
  out->resize(want);
}

std::vector<std::string> reg_expire(Registry* reg, int64_t now) {
  std::vector<std::string> gone;
  for (const auto& kv : reg->peers) {
    if (!reg_is_alive(reg, kv.second, now)) gone.push_back(kv.first);
  }
  for (const std::string& id : gone)
    reg_leave(reg, id);
  return gone;
}
