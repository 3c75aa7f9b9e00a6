// Seed-format log files and console lines. See log.h.
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

// printf for the formats log lines use, several times faster than vfprintf (a
// busy tracker writes a line per request).
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

static bool g_out_deferred = false;
static bool g_out_waiting = false;  // deferred lines not yet written
static bool g_out_quiet = false;

// The one place that knows what is on the terminal's last line: a prompt (on
// stdout) or a status line (on stderr), so out_line can put its line above it.
static std::string g_prompt;   // the prompt on screen; empty: none
static std::string g_status;   // the status line on screen; empty: none
static int g_stdout_tty = -1;  // unknown until first asked
static const char kClearLine[] = "\r\x1b[K";

static bool stdout_tty() {
  if (g_stdout_tty < 0) g_stdout_tty = isatty(1) ? 1 : 0;
  return g_stdout_tty == 1;
}

void out_line(const char* fmt, ...) {
  if (g_out_quiet) return;
  bool redraw = !g_prompt.empty() && stdout_tty();
  if (!g_status.empty()) {
    fputs(kClearLine, stderr);
    fflush(stderr);
  }
  if (redraw) fputs(kClearLine, stdout);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  if (redraw) fputs(g_prompt.c_str(), stdout);
  if (g_out_deferred && g_status.empty()) {
    g_out_waiting = true;
  } else {
    fflush(stdout);
  }
  if (!g_status.empty()) {
    fputs(g_status.c_str(), stderr);
    fflush(stderr);
  }
}

void out_defer(bool on) {
  fflush(stdout);
  g_out_waiting = false;
  // Deferred, stdout is fully buffered even on a terminal (where stdio would
  // write at each newline): the owner's flush decides when lines go out, so a
  // console line never shows before the log line written with it.
  if (on != g_out_deferred) setvbuf(stdout, nullptr, on ? _IOFBF : _IOLBF, BUFSIZ);
  g_out_deferred = on;
}

void out_flush() {
  if (!g_out_waiting) return;  // a busy tracker flushes once per batch, mostly with nothing
  g_out_waiting = false;
  fflush(stdout);
}

void out_set_quiet(bool on) {
  g_out_quiet = on;
}

bool out_quiet() {
  return g_out_quiet;
}

void text_appendf(std::string* out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) out->append(buf, static_cast<size_t>(n) < sizeof buf ? n : sizeof buf - 1);
}

void out_fail(const std::string& cmd, const std::string& why) {
  if (!g_out_deferred) fflush(stdout);
  std::string c;  // the command as typed, without the blanks around it
  size_t b = cmd.find_first_not_of(" \t");
  if (b != std::string::npos) c = cmd.substr(b, cmd.find_last_not_of(" \t") - b + 1);
  // On a terminal the line goes above the prompt or the status line, as out_line's do.
  bool redraw = !g_prompt.empty() && stdout_tty() && isatty(2);
  if (redraw) {
    fputs(kClearLine, stdout);
    fflush(stdout);
  }
  if (!g_status.empty()) fputs(kClearLine, stderr);
  if (c.empty())
    fprintf(stderr, "tt: %s\n", why.c_str());
  else
    fprintf(stderr, "tt: %s: %s\n", out_sanitize(c, 200).c_str(), why.c_str());
  if (!g_status.empty()) fputs(g_status.c_str(), stderr);
  fflush(stderr);
  if (redraw) {
    fputs(g_prompt.c_str(), stdout);
    fflush(stdout);
  }
}

void out_prompt(const char* text) {
  fputs(text, stdout);
  fflush(stdout);
  g_prompt = text;
}

void out_prompt_gone() {
  g_prompt.clear();
}

void out_prompt_clear() {
  if (!g_prompt.empty() && stdout_tty()) {
    fputs(kClearLine, stdout);
    fflush(stdout);
  }
  g_prompt.clear();
}

void out_status(const std::string& text) {
  g_status = std::string(kClearLine) + text;
  fputs(g_status.c_str(), stderr);
  fflush(stderr);
}

void out_status_clear() {
  if (g_status.empty()) return;
  g_status.clear();
  fputs(kClearLine, stderr);
  fflush(stderr);
}

// The length of the valid UTF-8 sequence at p (at most n bytes), or 0.
static size_t utf8_len(const unsigned char* p, size_t n) {
  size_t len = p[0] >= 0xf0 && p[0] <= 0xf4   ? 4
               : p[0] >= 0xe0 && p[0] <= 0xef ? 3
               : p[0] >= 0xc2 && p[0] <= 0xdf ? 2
                                              : 0;  // 0x80-0xc1 and 0xf5-0xff never lead
  if (len == 0 || len > n) return 0;
  uint32_t cp = p[0] & (0x3f >> (len - 1));
  for (size_t k = 1; k < len; k++) {
    if ((p[k] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (p[k] & 0x3f);
  }
  bool bad = (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
             (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0);  // C1 controls too
  return bad ? 0 : len;
}

// Characters that are valid UTF-8 and yet change how a terminal or a page
// shows the text around them: C1 controls, and the bidirectional marks,
// embeddings, overrides and isolates (a name could show reversed).
static bool display_control(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

static uint32_t utf8_code_point(const unsigned char* p, size_t len) {
  if (len == 2) return (p[0] & 0x1fu) << 6 | (p[1] & 0x3fu);
  if (len == 3) return (p[0] & 0x0fu) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu);
  return (p[0] & 0x07u) << 18 | (p[1] & 0x3fu) << 12 | (p[2] & 0x3fu) << 6 | (p[3] & 0x3fu);
}

std::string out_sanitize(const std::string& s, size_t max) {
  // The result is printable, valid UTF-8 (it may go into JSON), and never cut
  // inside a character: a byte that is not is shown as \xNN, a display
  // control as \u{XXXX}.
  std::string r;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = p[i];
    size_t len = c >= 0x80 ? utf8_len(p + i, s.size() - i) : 1;
    if (len > 1 && display_control(utf8_code_point(p + i, len))) {
      char esc[16];
      snprintf(esc, sizeof esc, "\\u{%04x}", static_cast<unsigned>(utf8_code_point(p + i, len)));
      if (r.size() + strlen(esc) > max) break;
      r += esc;
      i += len;
      continue;
    }
    bool plain = (c >= 0x20 && c < 0x7f) || len > 1;
    size_t out = plain ? len : 4;
    if (r.size() + out > max) break;
    if (plain) {
      r.append(s, i, len);
      i += len;
    } else {
      char esc[8];
      snprintf(esc, sizeof esc, "\\x%02x", c);
      r += esc;
      i++;
    }
  }
  if (i < s.size()) r += "...";
  return r;
}
