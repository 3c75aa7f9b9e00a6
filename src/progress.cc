// Rate window and progress bar text. See progress.h.
#include "progress.h"

#include <cstdio>

void rate_window_reset(RateWindow* w, uint64_t now_ms, uint64_t total) {
  *w = RateWindow();
  w->t_ms[0] = now_ms;
  w->bytes[0] = total;
  w->count = 1;
  w->changed_ms = now_ms;
}

void rate_window_add(RateWindow* w, uint64_t now_ms, uint64_t total) {
  if (w->count == 0) {
    rate_window_reset(w, now_ms, total);
    return;
  }
  size_t last = (w->first + w->count - 1) % kRateSamples;
  if (now_ms < w->t_ms[last]) now_ms = w->t_ms[last];
  if (total < w->bytes[last]) total = w->bytes[last];
  if (total > w->bytes[last]) w->changed_ms = now_ms;
  if (w->count == kRateSamples) {  // full: the oldest goes
    w->first = (w->first + 1) % kRateSamples;
    w->count--;
  }
  size_t at = (w->first + w->count) % kRateSamples;
  w->t_ms[at] = now_ms;
  w->bytes[at] = total;
  w->count++;
  // Older samples go once the next one still reaches back to the window's start:
  // the oldest kept is the base the rate is measured from.
  while (w->count > 1) {
    size_t next = (w->first + 1) % kRateSamples;
    if (now_ms - w->t_ms[next] < kBarRateWindowMs) break;
    w->first = next;
    w->count--;
  }
}

double rate_window_rate(const RateWindow* w, uint64_t now_ms) {
  if (w->count == 0) return 0;
  size_t last = (w->first + w->count - 1) % kRateSamples;
  // The base is the newest sample at or before the window's start (or the
  // first sample, early on): the rate covers the whole window.
  uint64_t base_t = w->t_ms[w->first];
  if (now_ms < w->t_ms[last]) now_ms = w->t_ms[last];
  if (now_ms <= base_t) return 0;
  double bytes = static_cast<double>(w->bytes[last] - w->bytes[w->first]);
  return bytes * 1000.0 / static_cast<double>(now_ms - base_t);
}

bool rate_window_stalled(const RateWindow* w, uint64_t now_ms) {
  return w->count > 0 && now_ms >= w->changed_ms && now_ms - w->changed_ms >= kStalledAfterMs;
}

std::string progress_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    u++;
  }
  char buf[32];
  snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

std::string progress_text(const ProgressLine& l) {
  const double have = l.have, total = l.total, rate = l.rate;
  const bool stalled = l.stalled;
  const size_t sources = l.sources;
  std::string s = l.name + "  ";
  char buf[64];
  if (total >= 0) {
    snprintf(buf, sizeof buf, "%3.0f%%  ", total > 0 ? 100 * have / total : 100.0);
    s += buf;
    s += progress_bytes(have) + " / " + progress_bytes(total);
  } else {
    s += progress_bytes(have);
  }
  s += "  ";
  if (stalled) {
    s += "stalled";
  } else {
    s += progress_bytes(rate) + "/s";
  }
  snprintf(buf, sizeof buf, "  %zu %s", sources, sources == 1 ? "source" : "sources");
  s += buf;
  if (!stalled) {
    if (total >= 0 && rate > 0 && total > have)
      snprintf(buf, sizeof buf, "  ETA %.0fs", (total - have) / rate);
    else if (total >= 0 && total <= have)
      snprintf(buf, sizeof buf, "  ETA 0s");
    else
      snprintf(buf, sizeof buf, "  ETA --");
    s += buf;
  }
  return s;
}
