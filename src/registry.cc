// Tracker state as sets, in compact slots. See registry.h.
#include "registry.h"

#include <algorithm>
#include <cstring>

/* ----------------------------------------------------------------------------
 * Slots: each kind lives in a vector, reused through a free list, and is found
 * by its key through an unordered_map whose node owns the one copy of the key.
 * ------------------------------------------------------------------------- */

template <typename T>
static uint32_t slot_new(std::vector<T>* v, std::vector<uint32_t>* free_list) {
  if (!free_list->empty()) {
    uint32_t s = free_list->back();
    free_list->pop_back();
    return s;
  }
  v->emplace_back();
  return static_cast<uint32_t>(v->size() - 1);
}

static uint32_t find_slot(const std::unordered_map<std::string, uint32_t>& ids,
                          const std::string& key) {
  auto it = ids.find(key);
  return it == ids.end() ? kRegNone : it->second;
}

// The slot of content id `hex` with one more reference (0: none).
static uint32_t cid_ref(Registry* reg, const std::string& hex) {
  if (hex.empty()) return 0;
  auto it = reg->cid_ids.find(hex);
  if (it == reg->cid_ids.end()) {
    uint32_t s = slot_new(&reg->cids, &reg->free_cids);
    it = reg->cid_ids.emplace(hex, s).first;
    reg->cids[s] = RegCid{&it->first, 0};
  }
  reg->cids[it->second].refs++;
  return it->second + 1;
}

static void cid_unref(Registry* reg, uint32_t cid) {
  if (cid == 0) return;
  RegCid& c = reg->cids[cid - 1];
  if (--c.refs > 0) return;
  reg->cid_ids.erase(*c.hex);
  c.hex = nullptr;
  reg->free_cids.push_back(cid - 1);
}

static const std::string& cid_hex(const Registry* reg, uint32_t cid) {
  static const std::string kNone;
  return cid == 0 ? kNone : *reg->cids[cid - 1].hex;
}

// Drops every file of the peer in slot `ps`.
static void drop_files(Registry* reg, uint32_t ps) {
  RegPeer& peer = reg->peers[ps];
  for (uint32_t fs : peer.files) {
    RegFile& f = reg->files[fs];
    for (size_t i = 0; i < f.holders.size(); i++) {
      if (f.holders[i].peer != ps) continue;
      cid_unref(reg, f.holders[i].cid);
      f.holders.erase(f.holders.begin() + static_cast<ptrdiff_t>(i));
      break;
    }
    if (!f.holders.empty()) continue;
    reg->file_ids.erase(*f.name);
    f.name = nullptr;
    std::vector<RegHolder>().swap(f.holders);
    reg->free_files.push_back(fs);
  }
  std::vector<uint32_t>().swap(peer.files);
}

/* ----------------------------------------------------------------------------
 * Changes
 * ------------------------------------------------------------------------- */

bool reg_is_alive(const Registry* reg, const RegPeer& p, int64_t now) {
  return now - p.last_seen <= reg->ttl_ms;
}

static int add_file(Registry* reg, uint32_t ps, const std::string& file, bool complete,
                    int64_t size, const std::string& cid) {
  auto fit = reg->file_ids.find(file);
  if (fit == reg->file_ids.end()) {
    uint32_t fs = slot_new(&reg->files, &reg->free_files);
    fit = reg->file_ids.emplace(file, fs).first;
    reg->files[fs].name = &fit->first;
  }
  uint32_t fs = fit->second;
  RegPeer& peer = reg->peers[ps];
  std::vector<RegHolder>& hs = reg->files[fs].holders;
  if (std::find(peer.files.begin(), peer.files.end(), fs) == peer.files.end()) {
    peer.files.push_back(fs);
    RegHolder h;
    h.peer = ps;
    h.cid = cid_ref(reg, cid) & 0x7fffffffu;
    h.complete = complete ? 1 : 0;
    h.size = size;
    hs.push_back(h);
    return REG_OK;
  }
  for (RegHolder& h : hs) {
    if (h.peer != ps) continue;
    bool new_cid = !cid.empty() && cid != cid_hex(reg, h.cid);
    bool changed = (complete && !h.complete) || (size >= 0 && size != h.size) || new_cid;
    if (complete) h.complete = 1;
    if (size >= 0) h.size = size;
    if (new_cid) {
      cid_unref(reg, h.cid);
      h.cid = cid_ref(reg, cid) & 0x7fffffffu;
    }
    return changed ? REG_OK : REG_UNCHANGED;
  }
  return REG_UNCHANGED;
}

// Moves the per-IP counts of the peer in slot ps by its ids and files.
static void ip_count(Registry* reg, uint32_t ps, int sign) {
  const RegPeer& p = reg->peers[ps];
  RegIpCount& c = reg->per_ip[p.ip];
  c.ids = sign > 0 ? c.ids + 1 : c.ids - 1;
  c.files = sign > 0 ? c.files + p.files.size() : c.files - p.files.size();
  if (c.ids == 0 && c.files == 0) reg->per_ip.erase(p.ip);
}

int reg_add_file(Registry* reg, const std::string& id, const std::string& file, bool complete,
                 int64_t size, const std::string& cid) {
  uint32_t ps = find_slot(reg->peer_ids, id);
  if (ps == kRegNone) return REG_ENOPEER;
  size_t before = reg->peers[ps].files.size();
  int r = add_file(reg, ps, file, complete, size, cid);
  reg->per_ip[reg->peers[ps].ip].files += reg->peers[ps].files.size() - before;
  return r;
}

RegIpCount reg_ip_count(const Registry* reg, uint32_t ip) {
  auto it = reg->per_ip.find(ip);
  return it == reg->per_ip.end() ? RegIpCount() : it->second;
}

int reg_join(Registry* reg, const std::string& id, const std::string& ip_text, int tcp_port,
             int udp_port, const std::vector<std::string>& files, bool extended, int64_t now) {
  uint32_t ip;
  if (proto_ip_parse(ip_text.c_str(), &ip) != 0) return REG_EINVAL;
  uint32_t ps = find_slot(reg->peer_ids, id);
  bool changed = false;
  bool known = false;  // the same address: counted already
  if (ps == kRegNone) {
    ps = slot_new(&reg->peers, &reg->free_peers);
    RegPeer& p = reg->peers[ps];
    p.id = &reg->peer_ids.emplace(id, ps).first->first;
    p.ip = ip;
    p.tcp_port = static_cast<uint16_t>(tcp_port);
    changed = true;
  } else if (reg->peers[ps].ip != ip || reg->peers[ps].tcp_port != tcp_port) {
    if (reg_is_alive(reg, reg->peers[ps], now)) return REG_CONFLICT;
    ip_count(reg, ps, -1);
    drop_files(reg, ps);
    reg->peers[ps].ip = ip;
    reg->peers[ps].tcp_port = static_cast<uint16_t>(tcp_port);
    changed = true;
  } else {
    known = true;
  }
  RegPeer& p = reg->peers[ps];
  size_t before = p.files.size();
  if (changed) {
    ProtoSourceText& t = reg->text_scratch;
    proto_source_text(id, p.ip, p.tcp_port, &t);
    char* to = p.text;
    if (t.text.size() > kRegTextInline) {
      p.long_text.reset(new char[t.text.size()]);
      to = p.long_text.get();
    } else {
      p.long_text.reset();
    }
    memcpy(to, t.text.data(), t.text.size());
    p.text_len = static_cast<uint16_t>(t.text.size());
    p.source_len = t.source_len;
  }
  p.udp_port = static_cast<uint16_t>(udp_port);
  p.extended = extended;
  p.last_seen = now;
  for (const std::string& f : files) {
    if (add_file(reg, ps, f, true, -1, "") == REG_OK) changed = true;
  }
  if (known)
    reg->per_ip[p.ip].files += p.files.size() - before;
  else
    ip_count(reg, ps, +1);
  return changed ? REG_OK : REG_UNCHANGED;
}

int reg_leave(Registry* reg, const std::string& id) {
  auto it = reg->peer_ids.find(id);
  if (it == reg->peer_ids.end()) return REG_ENOPEER;
  uint32_t ps = it->second;
  ip_count(reg, ps, -1);
  drop_files(reg, ps);
  reg->peers[ps] = RegPeer();
  reg->peer_ids.erase(it);
  reg->free_peers.push_back(ps);
  return REG_OK;
}

RegPeer* reg_find(Registry* reg, const std::string& id) {
  uint32_t ps = find_slot(reg->peer_ids, id);
  return ps == kRegNone ? nullptr : &reg->peers[ps];
}

const RegPeer* reg_find(const Registry* reg, const std::string& id) {
  uint32_t ps = find_slot(reg->peer_ids, id);
  return ps == kRegNone ? nullptr : &reg->peers[ps];
}

void reg_touch(Registry* reg, const std::string& id, int64_t now) {
  RegPeer* p = reg_find(reg, id);
  if (p != nullptr) p->last_seen = now;
}

void reg_touch_hint(Registry* reg, uint32_t hint, const std::string& id, int64_t now) {
  if (hint < reg->peers.size() && reg->peers[hint].id != nullptr && *reg->peers[hint].id == id) {
    reg->peers[hint].last_seen = now;
    return;
  }
  reg_touch(reg, id, now);
}

/* ----------------------------------------------------------------------------
 * Queries
 * ------------------------------------------------------------------------- */

uint32_t reg_slot(const Registry* reg, const std::string& id) {
  return find_slot(reg->peer_ids, id);
}

void reg_sources(Registry* reg, const std::string& file, const std::string& exclude_id, size_t want,
                 int64_t now, std::vector<ProtoSourceRef>* out, RegFileInfo* info) {
  reg_sources_slot(reg, file, find_slot(reg->peer_ids, exclude_id), want, now, out, info);
}

void reg_sources_slot(Registry* reg, const std::string& file, uint32_t exclude, size_t want,
                      int64_t now, std::vector<ProtoSourceRef>* out, RegFileInfo* info) {
  out->clear();
  uint32_t fs = find_slot(reg->file_ids, file);
  uint32_t file_cid = 0;
  int64_t file_size = -1;
  if (fs != kRegNone) {
    const std::vector<RegHolder>& hs = reg->files[fs].holders;
    bool have = false;
    for (const RegHolder& x : hs) {
      if (x.cid == 0) continue;
      if (!have || x.complete) {
        file_cid = x.cid;
        file_size = x.size;
        have = true;
      }
      if (x.complete) break;
    }
    for (const RegHolder& x : hs) {
      if (x.peer == exclude || (x.cid != 0 && x.cid != file_cid)) continue;
      // Expiry is lazy here: a peer past its ttl is not listed even before the sweep.
      const RegPeer& p = reg->peers[x.peer];
      if (!reg_is_alive(reg, p, now)) continue;
      const char* text = p.long_text ? p.long_text.get() : p.text;
      out->push_back(ProtoSourceRef{text, p.text_len, p.source_len, p.tcp_port, x.complete != 0});
    }
  }
  if (info != nullptr) {
    info->size = file_cid != 0 ? file_size : -1;
    info->cid = cid_hex(reg, file_cid);
  }
  if (out->size() > want) {
    // More sources than wanted: a uniform random selection (partial Fisher-Yates).
    for (size_t i = 0; i < want; i++) {
      std::uniform_int_distribution<size_t> pick(i, out->size() - 1);
      std::swap((*out)[i], (*out)[pick(reg->rng)]);
    }
    out->resize(want);
  }
}

std::vector<std::string> reg_expire(Registry* reg, int64_t now) {
  std::vector<std::string> gone;
  for (const RegPeer& p : reg->peers) {
    if (p.id != nullptr && !reg_is_alive(reg, p, now)) gone.push_back(*p.id);
  }
  for (const std::string& id : gone)
    reg_leave(reg, id);
  return gone;
}

size_t reg_peer_count(const Registry* reg) {
  return reg->peer_ids.size();
}

size_t reg_file_count(const Registry* reg) {
  return reg->file_ids.size();
}

bool reg_has_file(const Registry* reg, const std::string& file) {
  return reg->file_ids.count(file) != 0;
}

std::vector<std::string> reg_peer_files(const Registry* reg, const std::string& id) {
  std::vector<std::string> names;
  const RegPeer* p = reg_find(reg, id);
  if (p == nullptr) return names;
  for (uint32_t fs : p->files)
    names.push_back(*reg->files[fs].name);
  return names;
}
