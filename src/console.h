// stdin as a TTY, a pipe or a file, split into lines; and the command tables
// with the one dispatcher the tracker and peer consoles run lines through.
// Owns one uv_tty_t or uv_pipe_t (or a chained uv_fs_read for a regular file).
// Used by tracker.cc and peer.cc.
#pragma once

#include <uv.h>

#include <cstddef>
#include <string>
#include <vector>

/* ---- stdin ---------------------------------------------------------------- */

enum ConsoleKind { CONSOLE_NONE, CONSOLE_TTY, CONSOLE_PIPE, CONSOLE_FILE };

struct Console {
  uv_loop_t* loop = nullptr;
  ConsoleKind kind = CONSOLE_NONE;
  union {
    uv_tty_t tty;
    uv_pipe_t pipe;
  } h;
  uv_fs_t fs_req;
  bool fs_busy = false;
  char file_buf[4096];
  std::string partial;
  bool discarding = false;  // dropping the rest of an overlong line
  bool eof = false;
  bool closing = false;
  void* ctx = nullptr;
  // A complete line without its "\n" (or "\r\n"); too_long when it was cut short.
  void (*on_line)(void* ctx, const std::string& line, bool too_long) = nullptr;
  void (*on_eof)(void* ctx) = nullptr;
  void (*on_closed)(void* ctx) = nullptr;
};

// Starts reading fd 0. on_eof runs once, after the last line, also when there is
// no usable stdin at all.
int console_open(Console* c, uv_loop_t* loop, void* ctx,
                 void (*on_line)(void*, const std::string&, bool), void (*on_eof)(void*));
bool console_is_tty(const Console* c);
// Stops reading and releases the handle; on_closed runs when it is gone.
void console_close(Console* c, void (*on_closed)(void* ctx));
// Exposed for tests: feeds bytes through the line splitter.
void console_feed(Console* c, const char* data, size_t len);
void console_finish(Console* c);

/* ---- command tables ------------------------------------------------------- */

// A console command's handler. ctx is what the table's owner passed to
// console_dispatch (the Tracker, the Peer); the result is the owner's own code
// (0: done), handed back in ConsoleParsed::result.
typedef int (*ConsoleHandler)(void* ctx, const std::vector<std::string>& args);

struct ConsoleCmd {
  const char* name;  // one or more words: "request logs"
  const char* args;  // for usage: "NAME [PATH]"
  const char* help;
  int min_args;
  int max_args;
  ConsoleHandler handler;
  unsigned flags = 0;  // the owner's bits (the peer's PEER_CMD_*); the dispatcher reads none
};

// A command table: its rows, in the order help lists them.
struct ConsoleTable {
  const ConsoleCmd* rows;
  size_t n;
};

enum ConsoleParse {
  CONSOLE_OK = 0,
  CONSOLE_EMPTY = 1,     // a blank line
  CONSOLE_UNKNOWN = -1,  // no such command
  CONSOLE_BADARGS = -2,  // wrong number of arguments, or an unclosed quote; error says which
};

struct ConsoleParsed {
  const ConsoleCmd* cmd = nullptr;
  std::vector<std::string> args;
  std::string error;
  int result = 0;  // console_dispatch: the handler's result, when it ran
};

// Splits a line into words on blanks; "double quotes" keep blanks inside a word,
// and \" or \\ inside quotes stand for themselves. Returns 0 or -1 (unclosed quote).
int console_split(const std::string& line, std::vector<std::string>* words);
int console_parse(const ConsoleTable& table, const std::string& line, ConsoleParsed* out);
// The one way a console line runs, for the tracker and the peer alike: parse
// it against the table; a blank line does nothing; a line that names no
// command prints the seed's "Please enter a valid command!" and the hint
// below; a known command with the wrong arguments prints a failure line
// (out_fail: the line, its usage); else the command's handler runs with ctx.
// Returns the ConsoleParse outcome; *out holds the command, its arguments and
// (CONSOLE_OK) the handler's result, for what the owner does after.
int console_dispatch(const ConsoleTable& table, void* ctx, const std::string& line,
                     ConsoleParsed* out);
// Prints one line per command, from the table.
void console_print_help(const ConsoleTable& table);
// The line that follows "Please enter a valid command!" for a line that names
// no command in the table: "Unknown command 'stauts'. Did you mean 'status'?
// Type 'help' for the list." (the suggestion only when a name is close enough).
std::string console_unknown_hint(const ConsoleTable& table, const std::string& line);
// Edit distance (insertions, deletions, substitutions and swaps of two
// neighbours each count one), for the suggestion above.
size_t console_edit_distance(const std::string& a, const std::string& b);
