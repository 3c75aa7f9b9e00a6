// Seed-format log files ("YYYY-MM-DD HH:MM:SS,mmm - message", appended across
// runs), with rotation, and reading them back for the consoles' log commands.
// Used by the tracker and the peer; owns no libuv handle: log lines are short
// synchronous appends (O_APPEND) to an open file.
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
