// Which piece to ask a source for next: rarest first over every connection,
// nobody's piece twice until the endgame, and the set of pieces as rare that
// the source may send instead (the request's want set). Pure: the downloader
// (swarm.cc) and the tests call it with the download's per-piece counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

// The most pieces a request offers the source to choose from (besides its own):
// enough that a seeder asked by many at once finds one it has not sent, few
// enough that a request waiting in a slow source's queue holds back little.
constexpr size_t kWantSetMax = 64;

struct PickerView {
  uint32_t pieces = 0;
  const std::vector<uint8_t>* state;          // 0: missing (not had, not being verified)
  const std::vector<uint8_t>* requested;      // sources asked for each piece now
  const std::vector<uint16_t>* wanted;        // requests out whose want sets hold each piece
  const std::vector<uint16_t>* own_wanted;    // ... of those, this source's
  const std::vector<uint64_t>* wanted_until;  // until when (ms) a want set holds each piece
  uint64_t now_ms = 0;
  const std::vector<uint16_t>* avail;  // connected sources that have each piece
};

// The rarest missing piece `has` holds that nobody is fetching and that is
// not in `mine` (what this source owes us already); -1 when there is nothing
// for this source. Among the rarest, the first from *cursor, which then moves
// past it: pieces in a row are fetched in a row (and written together), and
// downloaders that start at different cursors have pieces to trade.
// *want gets up to kWantSetMax other pieces as rare, that the source could
// send instead (the first after the one picked). Pieces in another source's
// want set still out are left to that request, like requested ones, for a
// while (wanted_until): that source may be sending them, but one that holds
// its answers cannot hold them for long. This source's own want sets do not hold its
// next requests back, so that one source alone is still asked in file order. In the endgame (no
// such piece), and only when `endgame` allows it (the caller's source is idle), one piece that
// exactly one other source is fetching (no want set), so a slow source cannot hold up the end while
// few whole pieces are fetched twice.
int picker_pick(const PickerView& v, const std::vector<uint8_t>& has,
                const std::vector<uint8_t>& mine, bool endgame, uint32_t* cursor,
                std::vector<uint32_t>* want);
