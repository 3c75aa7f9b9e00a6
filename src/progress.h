// The download progress bar's numbers: the current rate over a short sliding
// window (not the average since the start, which hides a stall), the ETA from
// it, and "stalled" when nothing arrived for a while. Pure functions on plain
// data (times in ms, given by the caller); peer.cc draws the bar on a terminal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

// The rate is measured over about this long.
constexpr uint64_t kBarRateWindowMs = 4000;
// Nothing received for this long shows "stalled" instead of a rate and ETA.
constexpr uint64_t kStalledAfterMs = 3000;
// Samples kept: the bar is redrawn a few times a second, so this covers the window.
constexpr size_t kRateSamples = 64;

struct RateWindow {
  uint64_t t_ms[kRateSamples] = {};
  uint64_t bytes[kRateSamples] = {};  // the running total at t_ms
  size_t first = 0, count = 0;        // a ring of samples, oldest first
  uint64_t changed_ms = 0;            // when the total last grew (or the start)
};

// Starts over at now_ms with `total` bytes already counted.
void rate_window_reset(RateWindow* w, uint64_t now_ms, uint64_t total);
// Records the running total at now_ms (times never go back; totals never shrink).
void rate_window_add(RateWindow* w, uint64_t now_ms, uint64_t total);
// Bytes per second over the last kBarRateWindowMs (less at the start); 0 with no time.
double rate_window_rate(const RateWindow* w, uint64_t now_ms);
// True when the total has not grown for kStalledAfterMs.
bool rate_window_stalled(const RateWindow* w, uint64_t now_ms);

// What the bar shows of a download.
struct ProgressLine {
  std::string name;
  double have = 0;       // bytes here
  double total = -1;     // the size; < 0 when unknown (no percentage, no ETA)
  double rate = 0;       // bytes per second
  bool stalled = false;  // "stalled" in place of the rate and ETA
  size_t sources = 1;
};
// The text of the bar (no escapes): "NAME  42%  1.0 MiB / 2.4 MiB  512.0 KiB/s
// 3 sources  ETA 3s".
std::string progress_text(const ProgressLine& l);
// "512 B", "1.5 MiB", ...
std::string progress_bytes(double b);
