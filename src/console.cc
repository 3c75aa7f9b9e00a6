// stdin reading and command tables. See console.h.
#include "console.h"

#include <cstdio>
#include <cstring>

#include "limits.h"
#include "out.h"

/* ----------------------------------------------------------------------------
 * Line splitting
 * ------------------------------------------------------------------------- */

static void deliver(Console* c, std::string line, bool too_long) {
  // A line typed on a terminal ends with Enter: the prompt scrolled up with it.
  if (c->kind == CONSOLE_TTY) out_prompt_gone();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (c->on_line != nullptr) c->on_line(c->ctx, line, too_long);
}

void console_feed(Console* c, const char* data, size_t len) {
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if (data[i] != '\n') continue;
    if (c->discarding) {
      c->discarding = false;
    } else {
      c->partial.append(data + start, i - start);
      std::string line;
      line.swap(c->partial);
      // A whole line that came in one read is held to the same limit.
      bool too_long = line.size() > kMaxConsoleLine;
      if (too_long) line.resize(kMaxConsoleLine);
      deliver(c, std::move(line), too_long);
    }
    start = i + 1;
  }
  if (start < len && !c->discarding) {
    c->partial.append(data + start, len - start);
    if (c->partial.size() > kMaxConsoleLine) {
      std::string line = c->partial.substr(0, kMaxConsoleLine);
      c->partial.clear();
      c->discarding = true;
      deliver(c, std::move(line), true);
    }
  }
}

void console_finish(Console* c) {
  if (c->eof) return;
  c->eof = true;
  if (c->kind == CONSOLE_TTY) out_prompt_clear();
  if (!c->partial.empty() && !c->discarding) {
    std::string line;
    line.swap(c->partial);
    deliver(c, std::move(line), false);
  }
  if (c->on_eof != nullptr) c->on_eof(c->ctx);
}

/* ----------------------------------------------------------------------------
 * stdin handles
 * ------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  (void)suggested;
  Console* c = static_cast<Console*>(h->data);
  buf->base = c->file_buf;
  buf->len = sizeof c->file_buf;
}

static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  Console* c = static_cast<Console*>(s->data);
  if (nread > 0) {
    console_feed(c, buf->base, static_cast<size_t>(nread));
  } else if (nread < 0) {
    uv_read_stop(s);
    console_finish(c);
  }
}

static void file_read_next(Console* c);

static void on_file_read(uv_fs_t* req) {
  Console* c = static_cast<Console*>(req->data);
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  c->fs_busy = false;
  if (c->closing) {
    if (c->on_closed != nullptr) c->on_closed(c->ctx);
    return;
  }
  if (n > 0) {
    console_feed(c, c->file_buf, static_cast<size_t>(n));
    file_read_next(c);
  } else {
    console_finish(c);
  }
}

static void file_read_next(Console* c) {
  if (c->eof || c->closing) return;
  uv_buf_t b = uv_buf_init(c->file_buf, sizeof c->file_buf);
  c->fs_req.data = c;
  if (uv_fs_read(c->loop, &c->fs_req, 0, &b, 1, -1, on_file_read) == 0) {
    c->fs_busy = true;
  } else {
    console_finish(c);
  }
}

// End of input found before the loop ran: report it from the loop, not from open.
static void on_none_idle(uv_idle_t* idle) {
  Console* c = static_cast<Console*>(idle->data);
  uv_close(reinterpret_cast<uv_handle_t*>(idle),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
  console_finish(c);
}

int console_open(Console* c, uv_loop_t* loop, void* ctx,
                 void (*on_line)(void*, const std::string&, bool), void (*on_eof)(void*)) {
  c->loop = loop;
  c->ctx = ctx;
  c->on_line = on_line;
  c->on_eof = on_eof;
  uv_handle_type t = uv_guess_handle(0);
  int r = -1;
  // libuv 1.44 aborts when uv_pipe_open is given a regular file or a closed fd,
  // so each kind of stdin gets the reader that suits it.
  if (t == UV_TTY) {
    r = uv_tty_init(loop, &c->h.tty, 0, 1);
    if (r == 0) {
      c->kind = CONSOLE_TTY;
      c->h.tty.data = c;
      r = uv_read_start(reinterpret_cast<uv_stream_t*>(&c->h.tty), on_alloc, on_read);
    }
  } else if (t == UV_NAMED_PIPE) {
    r = uv_pipe_init(loop, &c->h.pipe, 0);
    if (r == 0) {
      c->kind = CONSOLE_PIPE;
      c->h.pipe.data = c;
      r = uv_pipe_open(&c->h.pipe, 0);
      if (r == 0) r = uv_read_start(reinterpret_cast<uv_stream_t*>(&c->h.pipe), on_alloc, on_read);
    }
  } else if (t == UV_FILE) {
    c->kind = CONSOLE_FILE;
    file_read_next(c);
    return 0;
  }
  if (r != 0) {
    // No usable stdin (closed, a socket of another kind, ...): that is end of input.
    uv_idle_t* idle = new uv_idle_t;
    uv_idle_init(loop, idle);
    idle->data = c;
    uv_idle_start(idle, on_none_idle);
    if (c->kind == CONSOLE_NONE) return 0;
    // The handle was initialised; keep it so console_close releases it.
  }
  return 0;
}

bool console_is_tty(const Console* c) {
  return c->kind == CONSOLE_TTY;
}

void console_close(Console* c, void (*on_closed)(void* ctx)) {
  if (c->closing) return;
  c->closing = true;
  c->on_closed = on_closed;
  c->on_line = nullptr;
  c->on_eof = nullptr;
  uv_handle_t* h = nullptr;
  if (c->kind == CONSOLE_TTY) h = reinterpret_cast<uv_handle_t*>(&c->h.tty);
  if (c->kind == CONSOLE_PIPE) h = reinterpret_cast<uv_handle_t*>(&c->h.pipe);
  if (h != nullptr) {
    if (c->kind == CONSOLE_TTY) uv_tty_reset_mode();
    uv_close(h, [](uv_handle_t* hh) {
      Console* cc = static_cast<Console*>(hh->data);
      if (cc->on_closed != nullptr) cc->on_closed(cc->ctx);
    });
    return;
  }
  if (c->kind == CONSOLE_FILE && c->fs_busy) {
    uv_cancel(reinterpret_cast<uv_req_t*>(&c->fs_req));
    return;  // on_file_read reports the close
  }
  if (on_closed != nullptr) on_closed(c->ctx);
}

/* ----------------------------------------------------------------------------
 * Command tables
 * ------------------------------------------------------------------------- */

int console_split(const std::string& line, std::vector<std::string>* words) {
  words->clear();
  size_t i = 0, n = line.size();
  while (i < n) {
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
      i++;
    if (i >= n) break;
    std::string w;
    bool quoted = false;
    while (i < n && (quoted || (line[i] != ' ' && line[i] != '\t'))) {
      char ch = line[i];
      if (ch == '"') {
        quoted = !quoted;
      } else if (quoted && ch == '\\' && i + 1 < n && (line[i + 1] == '"' || line[i + 1] == '\\')) {
        w += line[++i];
      } else {
        w += ch;
      }
      i++;
    }
    if (quoted) return -1;
    words->push_back(std::move(w));
  }
  return 0;
}

// Number of words in a command name ("request logs" has two).
static size_t name_words(const char* name, std::vector<std::string>* parts) {
  console_split(name, parts);
  return parts->size();
}

int console_parse(const ConsoleTable& table, const std::string& line, ConsoleParsed* out) {
  *out = ConsoleParsed();
  std::vector<std::string> words;
  if (console_split(line, &words) != 0) {
    out->error = "unclosed quote";
    return CONSOLE_BADARGS;
  }
  if (words.empty()) return CONSOLE_EMPTY;
  std::vector<std::string> parts;
  for (size_t i = 0; i < table.n; i++) {
    const ConsoleCmd& row = table.rows[i];
    size_t k = name_words(row.name, &parts);
    if (words.size() < k) continue;
    bool match = true;
    for (size_t j = 0; j < k && match; j++)
      match = words[j] == parts[j];
    if (!match) continue;
    out->cmd = &row;
    out->args.assign(words.begin() + static_cast<long>(k), words.end());
    int argc = static_cast<int>(out->args.size());
    if (argc < row.min_args || argc > row.max_args) {
      out->error = std::string("usage: ") + row.name + (row.args[0] ? " " : "") + row.args;
      return CONSOLE_BADARGS;
    }
    return CONSOLE_OK;
  }
  return CONSOLE_UNKNOWN;
}

int console_dispatch(const ConsoleTable& table, void* ctx, const std::string& line,
                     ConsoleParsed* out) {
  int r = console_parse(table, line, out);
  if (r == CONSOLE_UNKNOWN) {
    out_line("Please enter a valid command!");
    out_line("%s", console_unknown_hint(table, line).c_str());
  } else if (r == CONSOLE_BADARGS) {
    out_fail(line, out->error);
  } else if (r == CONSOLE_OK) {
    out->result = out->cmd->handler(ctx, out->args);
  }
  return r;
}

void console_print_help(const ConsoleTable& table) {
  out_line("Commands:");
  for (size_t i = 0; i < table.n; i++) {
    const ConsoleCmd& row = table.rows[i];
    std::string left = std::string(row.name) + (row.args[0] ? " " : "") + row.args;
    out_line("  %-24s %s", left.c_str(), row.help);
  }
}

size_t console_edit_distance(const std::string& a, const std::string& b) {
  // Optimal string alignment over three rows; lines are bounded by kMaxConsoleLine.
  size_t n = a.size(), m = b.size();
  std::vector<size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; j++)
    prev[j] = j;
  for (size_t i = 1; i <= n; i++) {
    cur[0] = i;
    for (size_t j = 1; j <= m; j++) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      size_t d = prev[j] + 1;
      if (cur[j - 1] + 1 < d) d = cur[j - 1] + 1;
      if (prev[j - 1] + cost < d) d = prev[j - 1] + cost;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < d)
        d = prev2[j - 2] + 1;
      cur[j] = d;
    }
    prev2.swap(prev);
    prev.swap(cur);
  }
  return prev[m];
}

// How far a typed name may be from a command's name and still be suggested:
// one slip in a short name, two in a longer one.
static size_t close_enough(const std::string& name) {
  return name.size() <= 4 ? 1 : 2;
}

std::string console_unknown_hint(const ConsoleTable& table, const std::string& line) {
  std::vector<std::string> typed_words, words;
  console_split(line, &typed_words);  // an unknown command always splits (a bad quote is BADARGS)
  words = typed_words;                // compared in lower case, shown as typed
  for (std::string& w : words) {
    for (char& ch : w)
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  std::string typed = words.empty() ? std::string() : typed_words[0];
  const char* best = nullptr;
  std::string best_typed;
  size_t best_d = 0;
  std::vector<std::string> parts;
  for (size_t i = 0; i < table.n; i++) {
    const char* row_name = table.rows[i].name;
    size_t k = name_words(row_name, &parts);
    if (k == 0 || words.empty()) continue;
    size_t take = words.size() < k ? words.size() : k;
    std::string cand, cand_typed;
    bool prefix = words.size() < k;  // "request" for "request logs"
    for (size_t j = 0; j < take; j++) {
      cand += (j > 0 ? " " : "") + words[j];
      cand_typed += (j > 0 ? " " : "") + typed_words[j];
      prefix = prefix && words[j] == parts[j];
    }
    std::string name = row_name;
    size_t d = prefix ? 0 : console_edit_distance(cand, name);
    if (!prefix && (d > close_enough(name) || d >= name.size())) continue;
    if (best == nullptr || d < best_d) {
      best = row_name;
      best_d = d;
      best_typed = cand_typed;
    }
  }
  std::string shown = out_sanitize(best != nullptr ? best_typed : typed, 40);
  std::string hint = "Unknown command '" + shown + "'. ";
  if (best != nullptr) hint += std::string("Did you mean '") + best + "'? ";
  return hint + "Type 'help' for the list.";
}
