// console: line splitting and command-table parsing.
#include <catch2/catch.hpp>

#include "console.h"
#include "limits.h"
#include "out.h"

static int noop(void*, const std::vector<std::string>&) {
  return 0;
}

static const ConsoleCmd kRows[] = {
    {"share", "NAME [PATH]", "share", 1, 2, noop},
    {"request logs", "", "logs", 0, 0, noop},
    {"exit", "", "exit", 0, 0, noop},
};

static const ConsoleTable kTable = {kRows, 3};

static int parse(const std::string& line, ConsoleParsed* p) {
  return console_parse(kTable, line, p);
}

TEST_CASE("console: words split on blanks, quotes keep blanks", "[console]") {
  std::vector<std::string> w;
  REQUIRE(console_split("  share   a.txt\tb ", &w) == 0);
  CHECK(w == std::vector<std::string>{"share", "a.txt", "b"});
  REQUIRE(console_split(R"(share "my file.txt" "a \"q\" \\ b")", &w) == 0);
  CHECK(w == std::vector<std::string>{"share", "my file.txt", R"(a "q" \ b)"});
  CHECK(console_split("share \"open", &w) == -1);
}

TEST_CASE("console: commands match by their words, arguments are counted", "[console]") {
  ConsoleParsed p;
  REQUIRE(parse("share a.txt", &p) == CONSOLE_OK);
  CHECK(std::string(p.cmd->name) == "share");
  CHECK(p.args == std::vector<std::string>{"a.txt"});
  REQUIRE(parse("request logs", &p) == CONSOLE_OK);
  CHECK(std::string(p.cmd->name) == "request logs");
  CHECK(parse("request", &p) == CONSOLE_UNKNOWN);
  CHECK(parse("request logs now", &p) == CONSOLE_BADARGS);
  CHECK(parse("share", &p) == CONSOLE_BADARGS);
  CHECK(p.error == "usage: share NAME [PATH]");
  CHECK(parse("share a b c", &p) == CONSOLE_BADARGS);
  CHECK(parse("   ", &p) == CONSOLE_EMPTY);
  CHECK(parse("sharex a", &p) == CONSOLE_UNKNOWN);
  CHECK(parse("EXIT", &p) == CONSOLE_UNKNOWN);
}

struct Lines {
  std::vector<std::string> got;
  int too_long = 0;
  int eofs = 0;
};

static void on_line(void* ctx, const std::string& line, bool too_long) {
  Lines* l = static_cast<Lines*>(ctx);
  l->got.push_back(line);
  if (too_long) l->too_long++;
}

static void on_eof(void* ctx) {
  static_cast<Lines*>(ctx)->eofs++;
}

TEST_CASE("console: input splits into lines across reads, CRLF and a last unterminated line",
          "[console]") {
  Lines l;
  Console c;
  c.ctx = &l;
  c.on_line = on_line;
  c.on_eof = on_eof;
  console_feed(&c, "sha", 3);
  console_feed(&c, "re a\r\nget b\n\nex", 15);
  console_feed(&c, "it", 2);
  CHECK(l.got == std::vector<std::string>{"share a", "get b", ""});
  console_finish(&c);
  CHECK(l.got.back() == "exit");
  CHECK(l.eofs == 1);
  console_finish(&c);
  CHECK(l.eofs == 1);
}

TEST_CASE("console: an overlong line is reported once and its rest dropped", "[console]") {
  Lines l;
  Console c;
  c.ctx = &l;
  c.on_line = on_line;
  std::string big(20000, 'x');
  console_feed(&c, big.data(), big.size());
  console_feed(&c, "yyy\nnext\n", 9);
  REQUIRE(l.got.size() == 2);
  CHECK(l.too_long == 1);
  CHECK(l.got[1] == "next");
}

TEST_CASE("console: an overlong line that arrives whole, newline included, is refused too",
          "[console]") {
  Lines l;
  Console c;
  c.ctx = &l;
  c.on_line = on_line;
  std::string in =
      std::string(kMaxConsoleLine, 'a') + "\n" + std::string(kMaxConsoleLine + 1, 'b') + "\nnext\n";
  console_feed(&c, in.data(), in.size());
  REQUIRE(l.got.size() == 3);
  CHECK(l.got[0].size() == kMaxConsoleLine);  // at the limit: a line like any other
  CHECK(l.got[1].size() == kMaxConsoleLine);
  CHECK(l.too_long == 1);
  CHECK(l.got[2] == "next");
}

TEST_CASE("console: edit distance counts a swap of neighbours as one slip", "[console]") {
  CHECK(console_edit_distance("status", "status") == 0);
  CHECK(console_edit_distance("stauts", "status") == 1);
  CHECK(console_edit_distance("shar", "share") == 1);
  CHECK(console_edit_distance("", "exit") == 4);
  CHECK(console_edit_distance("hello", "help") == 2);
}

TEST_CASE("console: an unknown command suggests the closest name, from the table", "[console]") {
  static const ConsoleCmd table[] = {
      {"share", "NAME [PATH]", "share", 1, 2, noop},
      {"status", "", "status", 0, 0, noop},
      {"request logs", "", "logs", 0, 0, noop},
      {"exit", "", "exit", 0, 0, noop},
      {"quit", "", "quit", 0, 0, noop},
  };
  ConsoleTable n = {table, sizeof table / sizeof table[0]};
  CHECK(console_unknown_hint(n, "stauts") ==
        "Unknown command 'stauts'. Did you mean 'status'? Type 'help' for the list.");
  CHECK(console_unknown_hint(n, "EXTI now") ==
        "Unknown command 'EXTI'. Did you mean 'exit'? Type 'help' for the list.");
  CHECK(console_unknown_hint(n, "requst logs") ==
        "Unknown command 'requst logs'. Did you mean 'request logs'? Type 'help' for the list.");
  CHECK(console_unknown_hint(n, "request") ==
        "Unknown command 'request'. Did you mean 'request logs'? Type 'help' for the list.");
  // Too far from every name: only the pointer to help.
  CHECK(console_unknown_hint(n, "hello") == "Unknown command 'hello'. Type 'help' for the list.");
  CHECK(console_unknown_hint(n, "xy") == "Unknown command 'xy'. Type 'help' for the list.");
  // What is echoed is sanitised and bounded.
  std::string hint = console_unknown_hint(n, std::string("\x1b[2J") + std::string(200, 'z'));
  CHECK(hint.find('\x1b') == std::string::npos);
  CHECK(hint.size() < 120);
}

struct Owner {
  int ran = 0;
  std::vector<std::string> args;
};

static int record(void* ctx, const std::vector<std::string>& args) {
  Owner* o = static_cast<Owner*>(ctx);
  o->ran++;
  o->args = args;
  return 7;
}

TEST_CASE("console: the dispatcher runs the row's handler with the owner's context", "[console]") {
  static const ConsoleCmd rows[] = {
      {"share", "NAME [PATH]", "share", 1, 2, record, 4u},
      {"request logs", "", "logs", 0, 0, record},
  };
  const ConsoleTable table = {rows, 2};
  Owner o;
  ConsoleParsed p;
  out_set_quiet(true);  // the unknown-command lines would mix with the test's output
  CHECK(console_dispatch(table, &o, "share \"a b.txt\" there", &p) == CONSOLE_OK);
  CHECK(o.ran == 1);
  CHECK(o.args == std::vector<std::string>{"a b.txt", "there"});
  CHECK(p.result == 7);
  CHECK(p.cmd->flags == 4u);  // the owner's bits come back with the row
  CHECK(console_dispatch(table, &o, "request logs", &p) == CONSOLE_OK);
  CHECK(o.ran == 2);
  CHECK(console_dispatch(table, &o, "  ", &p) == CONSOLE_EMPTY);
  CHECK(console_dispatch(table, &o, "stauts", &p) == CONSOLE_UNKNOWN);
  CHECK(console_dispatch(table, &o, "share", &p) == CONSOLE_BADARGS);  // its failure line: stderr
  CHECK(p.error == "usage: share NAME [PATH]");
  CHECK(o.ran == 2);  // neither ran a handler
  out_set_quiet(false);
}
