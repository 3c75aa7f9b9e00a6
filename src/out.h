// Console output: the lines the tracker and the peer print on stdout, failure
// lines on stderr, the prompt and the status line kept below them on a
// terminal, and sanitising user text before it is echoed. Owns no libuv
// handle: stdio, flushed as each caller needs. Used by every module that prints.
#pragma once

#include <cstddef>
#include <string>

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
