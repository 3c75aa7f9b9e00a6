// Which piece to ask a source for next: rarest first over every connection,
// nobody's piece twice until the endgame, and the set of pieces as rare that
// the source may send instead (the request's want set). Pure: the downloader
// (swarm.cc) and the tests call it with the download's per-piece counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

struct PickerView {
  uint32_t pieces = 0;
  const std::vector<uint8_t>* state;      // 0: missing (not had, not being verified)
  const std::vector<uint8_t>* requested;  // sources asked for each piece now
  const std::vector<uint16_t>* avail;     // connected sources that have each piece
};

// The rarest missing piece `has` holds that nobody is fetching and that is not
// in `mine` (what this source owes us already); in the endgame (no such piece),
// one that exactly one other source is fetching, so a slow source cannot hold
// up the end. -1 when there is nothing for this source. Among the rarest, the
// first from *cursor, which then moves past it: pieces in a row are fetched in
// a row (and written together), and downloaders that start at different
// cursors have pieces to trade. Outside the endgame, *want gets every piece as
// rare as the one picked that the source could send instead (cleared when
// there is no other).
int picker_pick(const PickerView& v, const std::vector<uint8_t>& has,
                const std::vector<uint8_t>& mine, uint32_t* cursor, std::vector<uint8_t>* want);
