// Console output lines, the prompt and status line, and sanitised echoes. See out.h.
#include "out.h"

#include <unistd.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "utf8.h"

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

// Printable characters that still change how a terminal or a page shows the
// text around them: the bidirectional marks, embeddings, overrides and
// isolates (a name could show reversed).
static bool display_control(uint32_t cp) {
  return cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

// The length of the printable UTF-8 character at p (at most n bytes), with its
// code point in *cp; 0 for a byte that does not start one. C1 controls
// (U+0080-U+009F) are valid UTF-8 but count as not printable: shown as \xNN.
static size_t printable_len(const unsigned char* p, size_t n, uint32_t* cp) {
  size_t len = utf8_decode(p, n, cp);
  return len != 0 && *cp >= 0xa0 ? len : 0;
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
    uint32_t cp = c;
    size_t len = c >= 0x80 ? printable_len(p + i, s.size() - i, &cp) : 1;
    if (len > 1 && display_control(cp)) {
      char esc[16];
      snprintf(esc, sizeof esc, "\\u{%04x}", static_cast<unsigned>(cp));
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
