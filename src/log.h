// Seed-format log files ("YYYY-MM-DD HH:MM:SS,mmm - message", appended across runs)
// and the console's plain output lines. Used by the tracker and the peer; owns no
// libuv handle: log lines are short synchronous appends (O_APPEND) to an open file.
#pragma once

#include <sys/time.h>

#include <cstdint>
#include <cstdio>
#include <string>

struct Log {
  int fd = -1;
  std::string path;
  // Deferred: lines are buffered until log_flush (a busy tracker writes its log
  // once per batch of datagrams, not once per line).
  bool deferred = false;
  struct timeval tv = {};  // the time of the line being written
  long stamp_sec = -1;     // the second `stamp` shows
  char stamp[32] = {};
  std::string buf;  // lines not yet written (formatted in place), reused
  // Rotation (0: none): a write that would take the file past max_bytes first
  // renames it to <path>.1 (replacing the one before) and starts a new one.
  int64_t max_bytes = 0;
  int64_t size = 0;  // the file's size, as written
};

int log_open(Log* log, const std::string& path);  // 0 or -errno
void log_close(Log* log);
// Appends one line with the current local time.
void log_line(Log* log, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// Writes buffered lines out (deferred logs).
void log_flush(Log* log);
// "YYYY-MM-DD HH:MM:SS,mmm" for a time in milliseconds since the epoch, local time.
std::string log_timestamp(int64_t epoch_ms);

// Reads the log file line by line and prints to `out` each line for which
// match(line, ctx) is true (all lines when match is null). Returns the number of
// lines printed, or -errno when the file cannot be read.
int log_print_matching(const std::string& path, bool (*match)(const std::string& line, void* ctx),
                       void* ctx, FILE* out);
// The same for a rotated log: <path>.1 (when there is one), then path.
int log_print_rotated(const std::string& path, bool (*match)(const std::string& line, void* ctx),
                      void* ctx, FILE* out);

// Console output: one line on stdout, flushed so piped readers see it at once.
void out_line(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Deferred console output: out_line stops flushing each line; out_flush (or
// out_defer(false)) writes them. Order is kept; only the write is batched.
void out_defer(bool on);
void out_flush();
// A prompt: no newline, flushed. While it is on a terminal's screen, out_line
// clears the prompt's line, prints its line, and draws the prompt again (the
// terminal keeps what the user has typed so far, and echoes it as typed).
void out_prompt(const char* text);
// The user ended the prompt's line (Enter): the prompt is no longer on screen.
void out_prompt_gone();
// Input ended on the prompt's line (^D): the line is cleared, the prompt is gone.
void out_prompt_clear();
// A status line on stderr (the download progress bar, terminal only: the
// caller checks): drawn in place, taken away by out_status_clear. out_line
// clears it before its line and draws it again after.
void out_status(const std::string& text);
void out_status_clear();
// A failed command, for people and scripts alike: one line on stderr,
// "tt: COMMAND: why" ("tt: why" when no command is running). COMMAND is shown
// as typed (sanitised); stdout is flushed first so the two streams interleave
// in the order things happened.
void out_fail(const std::string& cmd, const std::string& why);
// Quiet: out_line prints nothing; prompts, out_fail and explicit listings stay.
void out_set_quiet(bool on);
bool out_quiet();
// Appends printf-style text to *out (at most 511 bytes a call), for reports
// built in memory: the tracker's stats, the metrics, the status page.
void text_appendf(std::string* out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// Truncates and sanitises user text for echoing in a message (no control bytes).
std::string out_sanitize(const std::string& s, size_t max = 80);
