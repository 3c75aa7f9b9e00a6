// log: the seed's timestamp format and log scanning.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "log.h"
#include "out.h"

TEST_CASE("log: timestamps are local time with milliseconds after a comma", "[log]") {
  setenv("TZ", "UTC", 1);
  tzset();
  CHECK(log_timestamp(0) == "1970-01-01 00:00:00,000");
  CHECK(log_timestamp(1764182400123LL) == "2025-11-26 18:40:00,123");
}

static bool has_b(const std::string& line, void*) {
  return line.find('b') != std::string::npos;
}

// Opens a log on a new temporary file; returns its path (the caller unlinks it).
static std::string open_temp_log(Log* log) {
  char path[] = "/tmp/tt-unit-log-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  REQUIRE(log_open(log, path) == 0);
  return path;
}

// The lines log_print_matching prints for the log at `path`.
static std::vector<std::string> printed(const std::string& path,
                                        bool (*match)(const std::string&, void*) = nullptr) {
  FILE* out = tmpfile();
  REQUIRE(out != nullptr);
  int n = log_print_matching(path, match, nullptr, out);
  rewind(out);
  std::vector<std::string> lines;
  char buf[512];
  while (fgets(buf, sizeof buf, out) != nullptr)
    lines.push_back(buf);
  fclose(out);
  CHECK(static_cast<size_t>(n) == lines.size());
  return lines;
}

TEST_CASE("log: lines append in the seed's format and can be filtered", "[log]") {
  Log log;
  std::string path = open_temp_log(&log);
  log_line(&log, "a %d", 1);
  log_line(&log, "b %s", "two");
  log_close(&log);
  std::vector<std::string> lines = printed(path, has_b);
  REQUIRE(lines.size() == 1);
  CHECK(
      std::regex_match(lines[0], std::regex(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - b two\n)")));
  CHECK(log_print_matching("/nonexistent/x.log", nullptr, nullptr, stdout) < 0);
  unlink(path.c_str());
}

TEST_CASE("log: user text is sanitised and cut before it is echoed", "[log]") {
  CHECK(out_sanitize("ok") == "ok");
  CHECK(out_sanitize("a\nb") == "a\\x0ab");
  CHECK(out_sanitize(std::string(100, 'z'), 10) == std::string(10, 'z') + "...");
}

TEST_CASE("log: sanitised text is valid UTF-8 and never cut inside a character", "[log]") {
  std::string s = std::string(39, 'a') + "\xc3\xa9";
  std::string r = out_sanitize(s, 40);
  CHECK(r == std::string(39, 'a') + "...");
  CHECK(out_sanitize("caf\xc3\xa9", 40) == "caf\xc3\xa9");
  CHECK(out_sanitize("bad\xff", 40) == "bad\\xff");
  CHECK(out_sanitize("c1\xc2\x85", 40) == "c1\\xc2\\x85");
  CHECK(out_sanitize("cut\xe2\x82", 40) == "cut\\xe2\\x82");
}

TEST_CASE("log: bidirectional controls are shown, not obeyed", "[log]") {
  // U+202E RIGHT-TO-LEFT OVERRIDE would show "\u202egnp.exe" as "exe.png".
  CHECK(out_sanitize("\xe2\x80\xaegnp.exe", 40) == "\\u{202e}gnp.exe");
  CHECK(out_sanitize("a\xe2\x81\xa6"
                     "b\xe2\x80\x8f",
                     40) == "a\\u{2066}b\\u{200f}");
  CHECK(out_sanitize("\xe2\x80\xae", 5) == "...");                      // an escape is never cut
  CHECK(out_sanitize("\xe2\x80\x94 dash", 40) == "\xe2\x80\x94 dash");  // other UTF-8 as is
}

TEST_CASE("log: formats write as printf does, deferred lines wait for log_flush", "[log]") {
  Log log;
  std::string path = open_temp_log(&log);
  log.deferred = true;
  log_line(&log, "%s|%d|%d|%zu|100%%|%x|end", "s", -2147483647 - 1, 0, static_cast<size_t>(-1),
           255u);
  log_line(&log, "no args");
  CHECK(printed(path).empty());  // deferred: nothing written yet
  log_flush(&log);
  CHECK(printed(path).size() == 2);
  log_close(&log);
  std::vector<std::string> lines = printed(path);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].substr(lines[0].find(" - ")) ==
        " - s|-2147483648|0|18446744073709551615|100%|ff|end\n");
  CHECK(lines[1].substr(23) == " - no args\n");
  unlink(path.c_str());
}

TEST_CASE("log: a deferred log writes early once 64 KiB wait, and on close", "[log]") {
  Log log;
  std::string path = open_temp_log(&log);
  log.deferred = true;
  std::string word(200, 'w');
  int n = 0;
  struct stat st;
  while (stat(path.c_str(), &st) == 0 && st.st_size == 0 && n < 1000) {
    log_line(&log, "%s", word.c_str());
    n++;
  }
  // "YYYY-MM-DD HH:MM:SS,mmm - " and the word and a newline: the first write
  // comes with the line that makes 64 KiB wait.
  size_t line = 26 + word.size() + 1;
  CHECK(static_cast<size_t>(n) == (64 * 1024 + line - 1) / line);
  log_line(&log, "last");
  log_close(&log);  // flushes what waits
  std::vector<std::string> lines = printed(path);
  REQUIRE(lines.size() == static_cast<size_t>(n) + 1);
  CHECK(lines.back().substr(23) == " - last\n");
  unlink(path.c_str());
}

TEST_CASE("log: bytes that never start a UTF-8 character are escaped", "[log]") {
  // 0xf5-0xff followed by continuation bytes look like a 3-byte character to a
  // check that only asks "at least 0xe0"; they are not UTF-8.
  CHECK(out_sanitize("a\xf9\x9e\x9e"
                     "b") == "a\\xf9\\x9e\\x9eb");
  CHECK(out_sanitize("\xff\xbf\xbf\xbf") == "\\xff\\xbf\\xbf\\xbf");
  CHECK(out_sanitize("\xf4\x8f\xbf\xbf") == "\xf4\x8f\xbf\xbf");  // U+10FFFF stays
}

TEST_CASE("log: past max_bytes the file moves to <path>.1 and a new one starts", "[log]") {
  Log log;
  std::string path = open_temp_log(&log);
  log.max_bytes = 1000;
  for (int i = 0; i < 100; i++)
    log_line(&log, "line %d of a log that must not grow without bound", i);
  log_close(&log);
  struct stat cur, old;
  REQUIRE(stat(path.c_str(), &cur) == 0);
  REQUIRE(stat((path + ".1").c_str(), &old) == 0);
  CHECK(cur.st_size <= 1000);
  CHECK(old.st_size <= 1000);
  CHECK(old.st_size > 900);  // filled before it moved
  // The newest lines are in the file, the ones just before them in <path>.1, in order.
  std::vector<std::string> now = printed(path);
  REQUIRE(!now.empty());
  CHECK(now.back().find("line 99 of") != std::string::npos);
  FILE* out = tmpfile();
  int n = log_print_rotated(path, nullptr, nullptr, out);
  CHECK(n == static_cast<int>(printed(path + ".1").size() + now.size()));
  fclose(out);
  // A log opened on a file already past the limit moves it with its first write.
  Log again;
  REQUIRE(log_open(&again, path) == 0);
  again.max_bytes = static_cast<int64_t>(cur.st_size);
  log_line(&again, "one more");
  log_close(&again);
  CHECK(printed(path).size() == 1);
  CHECK(printed(path + ".1") == now);
  unlink(path.c_str());
  unlink((path + ".1").c_str());
}

// Runs fn with fd `which` (1: stdout, 2: stderr) sent to a file; returns what
// was written there.
static std::string capture(int which, void (*fn)()) {
  char path[] = "/tmp/tt-test-out-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  fflush(stdout);
  fflush(stderr);
  int saved = dup(which);
  dup2(fd, which);
  fn();
  fflush(stdout);
  fflush(stderr);
  dup2(saved, which);
  close(saved);
  std::string text;
  char buf[512];
  ssize_t n;
  lseek(fd, 0, SEEK_SET);
  while ((n = read(fd, buf, sizeof buf)) > 0)
    text.append(buf, static_cast<size_t>(n));
  close(fd);
  unlink(path);
  return text;
}

TEST_CASE("log: a failed command is one line on stderr, tt: COMMAND: reason", "[log]") {
  CHECK(capture(2, [] { out_fail("share notes.txt", "File notes.txt does not exist"); }) ==
        "tt: share notes.txt: File notes.txt does not exist\n");
  // As typed, without the blanks around it; control bytes shown escaped.
  CHECK(capture(2, [] { out_fail("  get a\x1b.bin \t", "no"); }) == "tt: get a\\x1b.bin: no\n");
  CHECK(capture(2, [] { out_fail("", "tracker 127.0.0.1:9 not answering"); }) ==
        "tt: tracker 127.0.0.1:9 not answering\n");
}

TEST_CASE("log: quiet silences out_line but not out_fail", "[log]") {
  out_set_quiet(true);
  CHECK(out_quiet());
  CHECK(capture(2, [] { out_fail("get x", "why"); }) == "tt: get x: why\n");
  CHECK(capture(1, [] { out_line("Downloaded file %s successfully.", "x"); }) == "");
  out_set_quiet(false);
  CHECK(capture(1, [] { out_line("Downloaded file %s successfully.", "x"); }) ==
        "Downloaded file x successfully.\n");
  CHECK_FALSE(out_quiet());
}
