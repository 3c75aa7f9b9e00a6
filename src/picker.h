// Which piece to ask a source for next: rarest first over every connection,
// nobody's piece twice until the endgame, and the set of pieces as rare that
// the source may send instead (the request's want set). Pure: the downloader
// (swarm.cc) and the tests call it with the download's per-piece counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <vector>

// The most pieces a request offers the source to choose from (besides its own):
// enough that a seeder asked by many at once finds one it has not sent, few
// enough that a request waiting in a slow source's queue holds back little.
constexpr size_t kWantSetMax = 64;

// The pieces the picker may choose from, kept up to date by the downloader as
// counts change (picker_index_update after every change of a piece's state,
// requests or availability), so that a pick costs a few ordered-set steps
// instead of a walk over every piece: a file of 100,000 pieces is then no
// slower to fetch than one of 1,000.
struct PickerIndex {
  std::vector<std::set<uint32_t>> free;  // by availability: missing, nobody fetching
  std::set<uint32_t> single;             // missing, exactly one source fetching it
  std::vector<int32_t> slot;             // per piece: its free list, -2 single, -1 neither
  size_t nfree = 0;                      // pieces in the free lists
};
void picker_index_reset(PickerIndex* x, uint32_t pieces);
void picker_index_update(PickerIndex* x, uint32_t i, bool missing, uint8_t requested,
                         uint16_t avail);

struct PickerView {
  uint32_t pieces = 0;
  const std::vector<uint8_t>* state;          // 0: missing (not had, not being verified)
  const std::vector<uint8_t>* requested;      // sources asked for each piece now
  const std::vector<uint16_t>* wanted;        // requests out whose want sets hold each piece
  const std::vector<uint16_t>* own_wanted;    // ... of those, this source's
  const std::vector<uint64_t>* wanted_until;  // until when (ms) a want set holds each piece
  uint64_t now_ms = 0;
  const std::vector<uint16_t>* avail;  // connected sources that have each piece
  // When set (and kept up to date), picks walk it instead of every piece: the
  // same answers, for pieces the source has (a piece it has is one its
  // connection counts in avail, so pieces no source has are never walked).
  const PickerIndex* index = nullptr;
  // The caller's source is idle: in the endgame, picker_pick may ask it for a
  // piece another source is fetching.
  bool endgame = false;
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
// such piece), and only when v.endgame allows it (the caller's source is idle), one piece that
// exactly one other source is fetching (no want set), so a slow source cannot hold up the end while
// few whole pieces are fetched twice.
int picker_pick(const PickerView& v, const std::vector<uint8_t>& has,
                const std::vector<uint8_t>& mine, uint32_t* cursor, std::vector<uint32_t>* want);

// Late sources (limits.h kLateMinMs): how long a source may owe piece answers
// without finishing one, at `rate` bytes/s (0: not measured yet) with round
// trip rtt_ms, before its pieces may also be asked of an idle source:
// max(kLateMinMs, kLateFactor x (piece_size / rate + rtt_ms)).
uint64_t picker_late_after_ms(double rate, uint32_t piece_size, uint64_t rtt_ms);
// Whether a source that owes piece answers, and finished its last one (or was
// asked, owing none) at due_ms, is late at now_ms.
bool picker_source_late(uint64_t now_ms, uint64_t due_ms, double rate, uint32_t piece_size,
                        uint64_t rtt_ms);
// From the pieces late sources owe (one entry per request out at a late
// source, in any order): those every request out for is at a late source, each
// once, in order. A piece that a source not late is fetching too is left to it,
// so a piece is asked of at most one source that is not late at a time (and a
// black hole that took such a copy is passed over in turn once it is late).
void picker_late_only(const std::vector<uint8_t>& requested, std::vector<uint32_t>* late);
// For an idle source: among `late` (from picker_late_only), the rarest missing
// piece it has and does not owe; the first from *cursor among the rarest, which
// then moves past it. -1 when there is none.
int picker_pick_late(const PickerView& v, const std::vector<uint8_t>& has,
                     const std::vector<uint8_t>& mine, const std::vector<uint32_t>& late,
                     uint32_t* cursor);
