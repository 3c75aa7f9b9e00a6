// log: the seed's timestamp format and log scanning.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <regex>

#include "log.h"

TEST_CASE("log: timestamps are local time with milliseconds after a comma", "[log]") {
  setenv("TZ", "UTC", 1);
  tzset();
  CHECK(log_timestamp(0) == "1970-01-01 00:00:00,000");
  CHECK(log_timestamp(1764182400123LL) == "2025-11-26 18:40:00,123");
}

static bool has_b(const std::string& line, void*) {
  return line.find('b') != std::string::npos;
}

TEST_CASE("log: lines append in the seed's format and can be filtered", "[log]") {
  char path[] = "/tmp/tt-unit-log-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  Log log;
  REQUIRE(log_open(&log, path) == 0);
  log_line(&log, "a %d", 1);
  log_line(&log, "b %s", "two");
  log_close(&log);
  FILE* out = tmpfile();
  CHECK(log_print_matching(path, has_b, nullptr, out) == 1);
  rewind(out);
  char buf[256] = {0};
  REQUIRE(fgets(buf, sizeof buf, out) != nullptr);
  CHECK(std::regex_match(std::string(buf),
                         std::regex(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - b two\n)")));
  fclose(out);
  CHECK(log_print_matching("/nonexistent/x.log", nullptr, nullptr, stdout) < 0);
  unlink(path);
  close(fd);
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

TEST_CASE("log: formats write as printf does, deferred lines wait for log_flush", "[log]") {
  char path[] = "/tmp/tt-unit-log-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  Log log;
  REQUIRE(log_open(&log, path) == 0);
  log.deferred = true;
  log_line(&log, "%s|%d|%d|%zu|100%%|%x|end", "s", -2147483647 - 1, 0, static_cast<size_t>(-1),
           255u);
  log_line(&log, "no args");
  CHECK(lseek(fd, 0, SEEK_END) == 0);  // deferred: nothing written yet
  log_flush(&log);
  CHECK(lseek(fd, 0, SEEK_END) > 0);
  log_close(&log);
  FILE* out = tmpfile();
  CHECK(log_print_matching(path, nullptr, nullptr, out) == 2);
  rewind(out);
  char buf[256] = {0};
  REQUIRE(fgets(buf, sizeof buf, out) != nullptr);
  std::string line(buf);
  CHECK(line.substr(line.find(" - ")) == " - s|-2147483648|0|18446744073709551615|100%|ff|end\n");
  REQUIRE(fgets(buf, sizeof buf, out) != nullptr);
  CHECK(std::string(buf).substr(23) == " - no args\n");
  fclose(out);
  unlink(path);
  close(fd);
}

TEST_CASE("log: bytes that never start a UTF-8 character are escaped", "[log]") {
  // 0xf5-0xff followed by continuation bytes look like a 3-byte character to a
  // check that only asks "at least 0xe0"; they are not UTF-8.
  CHECK(out_sanitize("a\xf9\x9e\x9e"
                     "b") == "a\\xf9\\x9e\\x9eb");
  CHECK(out_sanitize("\xff\xbf\xbf\xbf") == "\\xff\\xbf\\xbf\\xbf");
  CHECK(out_sanitize("\xf4\x8f\xbf\xbf") == "\xf4\x8f\xbf\xbf");  // U+10FFFF stays
}
