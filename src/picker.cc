// The piece picker. See picker.h.
#include "picker.h"

int picker_pick(const PickerView& v, const std::vector<uint8_t>& has,
                const std::vector<uint8_t>& mine, bool endgame, uint32_t* cursor,
                std::vector<uint32_t>* want) {
  want->clear();
  uint32_t n = v.pieces;
  if (n == 0 || has.size() < n || mine.size() < n) return -1;
  const std::vector<uint8_t>& state = *v.state;
  const std::vector<uint8_t>& requested = *v.requested;
  const std::vector<uint16_t>& wanted = *v.wanted;
  const std::vector<uint16_t>& own = *v.own_wanted;
  const std::vector<uint64_t>& until = *v.wanted_until;
  auto held = [&](uint32_t i) { return wanted[i] > own[i] && v.now_ms < until[i]; };
  const std::vector<uint16_t>& avail = *v.avail;
  uint32_t start = *cursor % n;
  int best = -1;
  int pass = 0;
  for (; pass < (endgame ? 2 : 1) && best < 0; pass++) {
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
