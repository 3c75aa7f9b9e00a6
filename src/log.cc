// Seed-format log files. See log.h.
#include "log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <ctime>

// A deferred log writes early when this much waits (a huge batch of lines).
static constexpr size_t kLogBufferMax = 64 * 1024;

int log_open(Log* log, const std::string& path) {
  log->path = path;
  log->fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (log->fd < 0) return -errno;
  struct stat st;
  log->size = fstat(log->fd, &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
  return 0;
}

// The file is full: it becomes <path>.1 and a new one is started. When the
// new one cannot be opened the lines go on into the old (renamed) file.
static void log_rotate(Log* log) {
  std::string old = log->path + ".1";
  if (rename(log->path.c_str(), old.c_str()) != 0) return;
  int fd = open(log->path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (fd < 0) return;
  close(log->fd);
  log->fd = fd;
  log->size = 0;
}

void log_close(Log* log) {
  if (log->fd < 0) return;
  log_flush(log);
  close(log->fd);
  log->fd = -1;
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

// Whether fmt uses only %s, %d, %zu and %%, which append_format handles.
static bool simple_format(const char* fmt) {
  for (const char* p = strchr(fmt, '%'); p != nullptr; p = strchr(p + 1, '%')) {
    if (p[1] == 's' || p[1] == 'd' || p[1] == '%') {
      p++;
    } else if (p[1] == 'z' && p[2] == 'u') {
      p += 2;
    } else {
      return false;
    }
  }
  return true;
}

static void append_uint(std::string* out, unsigned long long v) {
  char buf[24];
  char* p = buf + sizeof buf;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  out->append(p, static_cast<size_t>(buf + sizeof buf - p));
}

// printf for the formats log lines use, without vfprintf's general-purpose
// cost (a busy tracker writes a line per request).
static void append_format(std::string* out, const char* fmt, va_list ap) {
  const char* p = fmt;
  while (*p != '\0') {
    const char* q = strchr(p, '%');
    if (q == nullptr) {
      out->append(p);
      return;
    }
    out->append(p, static_cast<size_t>(q - p));
    if (q[1] == 's') {
      const char* arg = va_arg(ap, const char*);
      out->append(arg != nullptr ? arg : "(null)");
      p = q + 2;
    } else if (q[1] == 'd') {
      int v = va_arg(ap, int);
      if (v < 0) out->push_back('-');
      append_uint(out,
                  v < 0 ? 0ull - static_cast<unsigned long long>(v) : static_cast<unsigned>(v));
      p = q + 2;
    } else if (q[1] == 'z') {
      append_uint(out, va_arg(ap, size_t));
      p = q + 3;
    } else {
      out->push_back('%');
      p = q + 2;
    }
  }
}

// Whether fmt is simple_format's, remembered per format string (log lines
// come from a few literal formats, so a few slots keep them all).
static bool simple_format_cached(const char* fmt) {
  struct Slot {
    const char* fmt;
    bool simple;
  };
  static Slot slots[16];
  Slot& s = slots[(reinterpret_cast<uintptr_t>(fmt) >> 3) % 16];
  if (s.fmt != fmt) s = Slot{fmt, simple_format(fmt)};
  return s.simple;
}

void log_line(Log* log, const char* fmt, ...) {
  if (log->fd < 0) return;
  // A deferred log reads the clock for the first line since its last write
  // only: what it holds was formatted within one pass of the loop.
  struct timeval& tv = log->tv;
  if (!log->deferred || log->buf.empty()) gettimeofday(&tv, nullptr);
  // The date and time change once a second; the milliseconds are added each time.
  if (tv.tv_sec != log->stamp_sec) {
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    strftime(log->stamp, sizeof log->stamp, "%Y-%m-%d %H:%M:%S", &tm);
    log->stamp_sec = tv.tv_sec;
  }
  int ms = static_cast<int>(tv.tv_usec / 1000);
  std::string& line = log->buf;  // the line is formatted at the end of what waits
  line.append(log->stamp);
  char tail[8] = {',',
                  static_cast<char>('0' + ms / 100),
                  static_cast<char>('0' + ms / 10 % 10),
                  static_cast<char>('0' + ms % 10),
                  ' ',
                  '-',
                  ' ',
                  '\0'};
  line.append(tail, 7);
  va_list ap;
  va_start(ap, fmt);
  if (simple_format_cached(fmt)) {
    append_format(&line, fmt, ap);
  } else {
    char buf[1024];
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    if (n > 0)
      line.append(buf,
                  static_cast<size_t>(n) < sizeof buf ? static_cast<size_t>(n) : sizeof buf - 1);
  }
  va_end(ap);
  line.push_back('\n');
  if (!log->deferred || line.size() >= kLogBufferMax) log_flush(log);
}

void log_flush(Log* log) {
  if (log->fd < 0 || log->buf.empty()) return;
  if (log->max_bytes > 0 && log->size > 0 &&
      log->size + static_cast<int64_t>(log->buf.size()) > log->max_bytes)
    log_rotate(log);
  log->size += static_cast<int64_t>(log->buf.size());
  const char* p = log->buf.data();
  size_t left = log->buf.size();
  while (left > 0) {
    ssize_t n = write(log->fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // a full disk or a bad file: these lines are lost, as fwrite's would be
    p += n;
    left -= static_cast<size_t>(n);
  }
  log->buf.clear();
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

int log_print_rotated(const std::string& path, bool (*match)(const std::string& line, void* ctx),
                      void* ctx, FILE* out) {
  int old = log_print_matching(path + ".1", match, ctx, out);
  if (old < 0 && old != -ENOENT) return old;
  int cur = log_print_matching(path, match, ctx, out);
  if (cur < 0) return cur;
  return (old > 0 ? old : 0) + cur;
}
