// The peer's pure helpers: how long `list` may wait for each page (so that a
// slow tracker cannot keep it running past its deadline), and the quoting of
// the command an interrupted download names to resume it.
#include <catch2/catch.hpp>

#include "console.h"
#include "limits.h"
#include "peer.h"

TEST_CASE("list: a page waits the tracker's answer timeout while the deadline is far") {
  CHECK(peer_list_budget_ms(1000, 1000) == kTrackerAnswerTimeoutMs);
  CHECK(peer_list_budget_ms(1000, 1000 + kListDeadlineMs - kTrackerAnswerTimeoutMs) ==
        kTrackerAnswerTimeoutMs);
}

TEST_CASE("list: near the deadline a page waits only what is left of it") {
  CHECK(peer_list_budget_ms(0, kListDeadlineMs - 1500) == 1500);
  CHECK(peer_list_budget_ms(0, kListDeadlineMs - 1) == 1);
}

TEST_CASE("list: at or past the deadline no page is asked for") {
  CHECK(peer_list_budget_ms(0, kListDeadlineMs) == 0);
  CHECK(peer_list_budget_ms(5, 5 + 10ull * kListDeadlineMs) == 0);
}

TEST_CASE("list: a clock that went back counts as no time passed") {
  CHECK(peer_list_budget_ms(5000, 10) == kTrackerAnswerTimeoutMs);
}

TEST_CASE("list: slow pages, each answered just before its budget ends, stop at the deadline") {
  uint64_t start = 777, now = start;
  int pages = 0;
  for (int b; (b = peer_list_budget_ms(start, now)) > 0; pages++)
    now += static_cast<uint64_t>(b);  // the answer comes at the last moment
  CHECK(now - start == static_cast<uint64_t>(kListDeadlineMs));
  CHECK(pages < kListPagesMax);
}

TEST_CASE("resume hint: a name quoted for the console reads back as the same one word") {
  const char* names[] = {"plain.bin",   "two words.txt", "say \"hi\".txt",
                         "back\\slash", "tab\there",     "both \\\" mixed"};
  for (const char* name : names) {
    std::vector<std::string> words;
    REQUIRE(console_split("get " + peer_console_quote(name), &words) == 0);
    REQUIRE(words.size() == 2);
    CHECK(words[1] == name);
  }
  CHECK(peer_console_quote("plain.bin") == "plain.bin");
}

TEST_CASE("resume hint: a word quoted for the shell") {
  CHECK(peer_shell_quote("b.bin") == "b.bin");
  CHECK(peer_shell_quote("/tmp/dir-1/x_y") == "/tmp/dir-1/x_y");
  CHECK(peer_shell_quote("my file") == "'my file'");
  CHECK(peer_shell_quote("it's") == "'it'\\''s'");
  CHECK(peer_shell_quote("say \"hi\"") == "'say \"hi\"'");
  CHECK(peer_shell_quote("$(rm -rf x)") == "'$(rm -rf x)'");
  CHECK(peer_shell_quote("") == "''");
}
