// Seed-format log files and console lines. See log.h.
#include "log.h"

#include <sys/time.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <ctime>

int log_open(Log* log, const std::string& path) {
  log->path = path;
  log->f = fopen(path.c_str(), "a");
  if (log->f == nullptr) return -errno;
  return 0;
}

void log_close(Log* log) {
  if (log->f != nullptr) fclose(log->f);
  log->f = nullptr;
}

std::string log_timestamp(int64_t epoch_ms) {
  time_t secs = static_cast<time_t>(epoch_ms / 1000);
  struct tm tm;
  localtime_r(&secs, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ",%03d", static_cast<int>(epoch_ms % 1000));
  return buf;
}

void log_line(Log* log, const char* fmt, ...) {
  if (log->f == nullptr) return;
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  int64_t ms = static_cast<int64_t>(tv.tv_sec) * 1000 + tv.tv_usec / 1000;
  fprintf(log->f, "%s - ", log_timestamp(ms).c_str());
  va_list ap;
  va_start(ap, fmt);
  vfprintf(log->f, fmt, ap);
  va_end(ap);
  fputc('\n', log->f);
  fflush(log->f);
}

int log_print_matching(const std::string& path, bool (*match)(const std::string& line, void* ctx),
                       void* ctx, FILE* out) {
  FILE* f = fopen(path.c_str(), "r");
  if (f == nullptr) return -errno;
  char* buf = nullptr;
  size_t cap = 0;
  ssize_t n;
  int printed = 0;
  std::string line;
  while ((n = getline(&buf, &cap, f)) >= 0) {
    line.assign(buf, static_cast<size_t>(n));
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
      line.pop_back();
    if (match != nullptr && !match(line, ctx)) continue;
    fprintf(out, "%s\n", line.c_str());
    printed++;
  }
  free(buf);
  fclose(f);
  fflush(out);
  return printed;
}

void out_line(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  fflush(stdout);
}

void out_prompt(const char* text) {
  fputs(text, stdout);
  fflush(stdout);
}

std::string out_sanitize(const std::string& s, size_t max) {
  std::string r;
  size_t i = 0;
  for (; i < s.size() && r.size() < max; i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      char esc[8];
      snprintf(esc, sizeof esc, "\\x%02x", c);
      r += esc;
    } else {
      r += static_cast<char>(c);
    }
  }
  if (i < s.size()) r += "...";
  return r;
}
