// The piece picker. See picker.h.
#include "picker.h"

#include <algorithm>

#include "limits.h"

void picker_index_reset(PickerIndex* x, uint32_t pieces) {
  x->free.clear();
  x->single.clear();
  x->slot.assign(pieces, -1);
  x->nfree = 0;
}

void picker_index_update(PickerIndex* x, uint32_t i, bool missing, uint8_t requested,
                         uint16_t avail) {
  if (i >= x->slot.size()) return;
  int32_t want = -1;
  if (missing && requested == 0) want = avail;
  if (missing && requested == 1) want = -2;
  int32_t had = x->slot[i];
  if (had == want) return;
  if (had >= 0) {
    x->free[static_cast<size_t>(had)].erase(i);
    x->nfree--;
  } else if (had == -2) {
    x->single.erase(i);
  }
  if (want >= 0) {
    if (x->free.size() <= static_cast<size_t>(want)) x->free.resize(static_cast<size_t>(want) + 1);
    x->free[static_cast<size_t>(want)].insert(i);
    x->nfree++;
  } else if (want == -2) {
    x->single.insert(i);
  }
  x->slot[i] = want;
}

// The first piece of `set` from `start` on (wrapping) that ok() accepts; -1 when none.
template <typename Ok>
static int first_from(const std::set<uint32_t>& set, uint32_t start, Ok ok) {
  for (auto it = set.lower_bound(start); it != set.end(); ++it) {
    if (ok(*it)) return static_cast<int>(*it);
  }
  for (auto it = set.begin(); it != set.end() && *it < start; ++it) {
    if (ok(*it)) return static_cast<int>(*it);
  }
  return -1;
}

// picker_pick over the index: the lowest free list with a piece for this
// source, the first from the cursor in it. Costs the pieces skipped (ones the
// source lacks, owes already, or that want sets hold), not the file's length.
static int pick_indexed(const PickerView& v, const std::vector<uint8_t>& has,
                        const std::vector<uint8_t>& mine, uint32_t start,
                        std::vector<uint32_t>* want) {
  const PickerIndex& x = *v.index;
  const std::vector<uint16_t>& wanted = *v.wanted;
  const std::vector<uint16_t>& own = *v.own_wanted;
  const std::vector<uint64_t>& until = *v.wanted_until;
  auto held = [&](uint32_t i) { return wanted[i] > own[i] && v.now_ms < until[i]; };
  auto fresh = [&](uint32_t i) { return has[i] && !mine[i] && !held(i); };
  for (size_t a = 1; a < x.free.size(); a++) {
    int best = first_from(x.free[a], start, fresh);
    if (best < 0) continue;
    const std::set<uint32_t>& tier = x.free[a];
    uint32_t b = static_cast<uint32_t>(best);
    for (auto it = tier.upper_bound(b); it != tier.end() && want->size() < kWantSetMax; ++it) {
      if (fresh(*it)) want->push_back(*it);
    }
    for (auto it = tier.begin(); it != tier.end() && *it < b && want->size() < kWantSetMax; ++it) {
      if (fresh(*it)) want->push_back(*it);
    }
    return best;
  }
  if (!v.endgame) return -1;
  // The endgame: a piece held by a want set, or one exactly one source fetches.
  uint32_t n = v.pieces;
  const std::vector<uint16_t>& avail = *v.avail;
  auto mine_ok = [&](uint32_t i) { return has[i] && !mine[i]; };
  int best = -1;
  for (size_t a = 1; a < x.free.size() && best < 0; a++)
    best = first_from(x.free[a], start, mine_ok);
  auto before = [&](uint32_t i, int than) {
    uint32_t t = static_cast<uint32_t>(than);
    if (avail[i] != avail[t]) return avail[i] < avail[t];
    return (i + n - start) % n < (t + n - start) % n;
  };
  for (uint32_t i : x.single) {
    if (mine_ok(i) && (best < 0 || before(i, best))) best = static_cast<int>(i);
  }
  return best;
}

int picker_pick(const PickerView& v, const std::vector<uint8_t>& has,
                const std::vector<uint8_t>& mine, uint32_t* cursor, std::vector<uint32_t>* want) {
  want->clear();
  uint32_t n = v.pieces;
  if (n == 0 || has.size() < n || mine.size() < n) return -1;
  uint32_t start = *cursor % n;
  if (v.index != nullptr) {
    int got = pick_indexed(v, has, mine, start, want);
    if (got >= 0) *cursor = (static_cast<uint32_t>(got) + 1) % n;
    return got;
  }
  const std::vector<uint8_t>& state = *v.state;
  const std::vector<uint8_t>& requested = *v.requested;
  const std::vector<uint16_t>& wanted = *v.wanted;
  const std::vector<uint16_t>& own = *v.own_wanted;
  const std::vector<uint64_t>& until = *v.wanted_until;
  auto held = [&](uint32_t i) { return wanted[i] > own[i] && v.now_ms < until[i]; };
  const std::vector<uint16_t>& avail = *v.avail;
  int best = -1;
  int pass = 0;
  for (; pass < (v.endgame ? 2 : 1) && best < 0; pass++) {
    for (uint32_t k = 0; k < n; k++) {
      uint32_t i = (start + k) % n;
      if (state[i] != 0 || !has[i] || mine[i]) continue;
      if (pass == 0 && (requested[i] > 0 || held(i))) continue;
      if (pass == 1 && requested[i] >= 2) continue;
      if (best < 0 || avail[i] < avail[best]) best = static_cast<int>(i);
    }
  }
  if (best < 0) return -1;
  *cursor = (static_cast<uint32_t>(best) + 1) % n;
  if (pass == 1) {  // found by the first pass: not the endgame
    for (uint32_t k = 1; k < n && want->size() < kWantSetMax; k++) {
      uint32_t i = (static_cast<uint32_t>(best) + k) % n;
      if (state[i] != 0 || !has[i] || mine[i] || requested[i] > 0 || held(i) ||
          avail[i] != avail[best])
        continue;
      want->push_back(i);
    }
  }
  return best;
}

uint64_t picker_late_after_ms(double rate, uint32_t piece_size, uint64_t rtt_ms) {
  double piece_ms = rate > 0 ? static_cast<double>(piece_size) * 1000 / rate : 0;
  double ms = kLateFactor * (piece_ms + static_cast<double>(rtt_ms));
  if (!(ms < 1e15)) ms = 1e15;  // an absurdly slow rate: never late (the stall limit acts)
  return std::max(kLateMinMs, static_cast<uint64_t>(ms));
}

bool picker_source_late(uint64_t now_ms, uint64_t due_ms, double rate, uint32_t piece_size,
                        uint64_t rtt_ms) {
  return now_ms > due_ms && now_ms - due_ms > picker_late_after_ms(rate, piece_size, rtt_ms);
}

void picker_late_only(const std::vector<uint8_t>& requested, std::vector<uint32_t>* late) {
  std::sort(late->begin(), late->end());
  size_t out = 0;
  for (size_t k = 0; k < late->size();) {
    uint32_t i = (*late)[k];
    size_t run = 1;
    while (k + run < late->size() && (*late)[k + run] == i)
      run++;
    k += run;
    if (i < requested.size() && requested[i] == run) (*late)[out++] = i;
  }
  late->resize(out);
}

int picker_pick_late(const PickerView& v, const std::vector<uint8_t>& has,
                     const std::vector<uint8_t>& mine, const std::vector<uint32_t>& late,
                     uint32_t* cursor) {
  uint32_t n = v.pieces;
  if (n == 0 || has.size() < n || mine.size() < n) return -1;
  const std::vector<uint8_t>& state = *v.state;
  const std::vector<uint16_t>& avail = *v.avail;
  uint32_t start = *cursor % n;
  int best = -1;
  for (uint32_t i : late) {
    if (i >= n || state[i] != 0 || !has[i] || mine[i]) continue;
    if (best >= 0) {
      uint32_t b = static_cast<uint32_t>(best);
      if (avail[i] > avail[b]) continue;
      if (avail[i] == avail[b] && (i + n - start) % n >= (b + n - start) % n) continue;
    }
    best = static_cast<int>(i);
  }
  if (best >= 0) *cursor = (static_cast<uint32_t>(best) + 1) % n;
  return best;
}
