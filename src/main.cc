// tt's entry point: the subcommand table, flag parsing from per-command flag
// tables (which also print the usage), and exit codes: 0 ok, 1 failure, 2 usage.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "limits.h"
#include "manifest.h"
#include "netaddr.h"
#include "out.h"
#include "peer.h"
#include "ratelimit.h"
#include "tracker.h"
#include "tt_version.h"

// SIZE: bytes, K or M; BOOL: a switch without a value (dest is a bool*).
enum FlagKind { FLAG_STRING, FLAG_INT, FLAG_RATE, FLAG_SIZE, FLAG_BOOL };

// A flag's row: parsing and the usage line both read it, so the usage's
// default and range are the ones the parser and the options struct hold.
struct Flag {
  const char* name;  // "--port"
  const char* metavar;
  const char* help;  // what it sets; the usage adds the default and the range
  FlagKind kind;
  void* dest;  // std::string*, int*, bool* or (a rate in bytes per second) uint64_t*
  // The same field in a default-made options struct: the default the usage shows.
  const void* def;
  int min, max;      // FLAG_INT: the values accepted
  const char* zero;  // what 0 or an empty value means ("a free one"); nullptr: nothing
  const char* note;  // said after the default and the range; nullptr: nothing
};

// A subcommand's row: its usage text, `tt help --dump` and the shell completion
// are all made from these fields, so a new flag or console command row shows
// up in all of them.
struct Subcommand {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
  void (*usage)(FILE* out);
  const char* operands;  // what the synopsis shows before the optional flags: "FILE..."
  const char* about;     // the lines after the synopsis
  const Flag* flags;     // nullptr: no flags
  size_t nflags;
  ConsoleTable (*console)();  // its console's command table; nullptr: no console
};

static const Subcommand* find_subcommand(const char* name);
static void print_usage(FILE* out, const Subcommand* s);
// Two columns, the left one as wide as its widest entry up to kUsageColumnMax;
// a longer entry has a line of its own, its help on the next, indented.
static constexpr size_t kUsageColumnMax = 30;
static void print_columns(FILE* out, const std::vector<std::string>& left,
                          const std::vector<std::string>& help) {
  size_t width = 0;
  for (const std::string& l : left) {
    if (l.size() <= kUsageColumnMax && l.size() > width) width = l.size();
  }
  for (size_t i = 0; i < left.size(); i++) {
    if (left[i].size() > width)
      fprintf(out, "  %s\n  %-*s  %s\n", left[i].c_str(), static_cast<int>(width), "",
              help[i].c_str());
    else
      fprintf(out, "  %-*s  %s\n", static_cast<int>(width), left[i].c_str(), help[i].c_str());
  }
}

// A byte count as the rate and size flags take it: "4096M", "1K", "100".
static std::string size_text(uint64_t v) {
  if (v != 0 && v % (1u << 20) == 0) return std::to_string(v >> 20) + "M";
  if (v != 0 && v % 1024 == 0) return std::to_string(v >> 10) + "K";
  return std::to_string(v);
}

// The flag's default as typed on the command line; "" for none (an empty
// string, a switch).
static std::string default_text(const Flag& f) {
  switch (f.kind) {
    case FLAG_STRING:
      return *static_cast<const std::string*>(f.def);
    case FLAG_INT:
      return std::to_string(*static_cast<const int*>(f.def));
    case FLAG_RATE:
    case FLAG_SIZE:
      return size_text(*static_cast<const uint64_t*>(f.def));
    case FLAG_BOOL:
      break;
  }
  return "";
}

// The usage's help for a flag: its row's help, then "(default D, MIN to MAX;
// 0: what zero means; note)", each part only where the row has it.
static std::string flag_help(const Flag& f) {
  std::string def = default_text(f);
  bool zero = def.empty() || def == "0";
  std::string more;
  if (zero && f.zero != nullptr)
    more = "default " + (def.empty() ? std::string() : def + ": ") + f.zero;
  else if (!def.empty())
    more = "default " + def;
  if (f.kind == FLAG_INT) more += ", " + std::to_string(f.min) + " to " + std::to_string(f.max);
  if (!zero && f.zero != nullptr) more += std::string("; 0: ") + f.zero;
  if (f.note != nullptr) more += std::string(more.empty() ? "" : "; ") + f.note;
  return more.empty() ? f.help : std::string(f.help) + " (" + more + ")";
}

static void print_flags(FILE* out, const Flag* flags, size_t n) {
  std::vector<std::string> left, help;
  for (size_t i = 0; i < n; i++) {
    left.push_back(std::string(flags[i].name) + " " + flags[i].metavar);
    help.push_back(flag_help(flags[i]));
  }
  print_columns(out, left, help);
}

/* ---- flag parsing --------------------------------------------------------- */

// A usage error: "tt CMD: why" and the usage on stderr. Returns 2.
static int usage_error(const Subcommand* s, const std::string& why) {
  fprintf(stderr, "tt %s: %s\n", s->name, why.c_str());
  s->usage(stderr);
  return 2;
}

static const Flag* find_flag(const Subcommand* s, const std::string& name) {
  for (size_t k = 0; k < s->nflags; k++) {
    if (name == s->flags[k].name) return &s->flags[k];
  }
  return nullptr;
}

// Stores a rate or size flag's value. Returns 0, or 2 after saying why not.
static int set_size_flag(const Subcommand* s, const Flag* f, const std::string& value) {
  std::string why;
  if (rate_parse(value, static_cast<uint64_t*>(f->dest), &why) == 0) return 0;
  if (f->kind == FLAG_SIZE && why.compare(0, 8, "expected") == 0)
    why = "expected bytes, with an optional K or M suffix (e.g. 512M; 0: no limit)";
  return usage_error(s, std::string("bad ") + f->name + " '" + value + "': " + why);
}

// Stores the value of a flag that takes one. Returns 0, or 2 after saying why not.
static int set_flag(const Subcommand* s, const Flag* f, const std::string& value) {
  if (f->kind == FLAG_STRING) {
    if (value.empty()) {
      fprintf(stderr, "tt %s: %s may not be empty\n", s->name, f->name);
      return 2;
    }
    *static_cast<std::string*>(f->dest) = value;
    return 0;
  }
  if (f->kind == FLAG_RATE || f->kind == FLAG_SIZE) return set_size_flag(s, f, value);
  char* end = nullptr;
  errno = 0;
  long v = strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno != 0 || v < f->min || v > f->max) {
    return usage_error(s, std::string(f->name) + " must be an integer from " +
                              std::to_string(f->min) + " to " + std::to_string(f->max) + ", not '" +
                              value + "'");
  }
  *static_cast<int*>(f->dest) = static_cast<int>(v);
  return 0;
}

// Parses argv against the subcommand's flag table ("--flag value" or
// "--flag=value"; --help prints the usage and exits 0). Returns 0, or 2 after
// printing what was wrong.
static int parse_flags(const Subcommand* s, int argc, char** argv) {
  for (int i = 0; i < argc; i++) {
    std::string arg = argv[i], value;
    size_t eq = arg.find('=');
    bool has_value = arg.compare(0, 2, "--") == 0 && eq != std::string::npos;
    if (has_value) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    }
    if (arg == "--help" || arg == "-h") {
      s->usage(stdout);
      exit(0);
    }
    const Flag* f = find_flag(s, arg);
    if (f == nullptr) return usage_error(s, std::string("unknown argument '") + argv[i] + "'");
    if (f->kind == FLAG_BOOL) {
      if (has_value) return usage_error(s, std::string(f->name) + " takes no value");
      *static_cast<bool*>(f->dest) = true;
      continue;
    }
    if (!has_value && i + 1 >= argc)
      return usage_error(s, std::string(f->name) + " needs a value (" + f->metavar + ")");
    if (!has_value) value = argv[++i];
    int r = set_flag(s, f, value);
    if (r != 0) return r;
  }
  return 0;
}

// Every host flag takes an IPv4 address or a name that resolves to one; the
// flag's value becomes the address. Returns 0, or 2 after saying why not.
static int resolve_host_flag(const char* cmd, const char* flag, std::string* host) {
  std::string ip, why;
  if (net_resolve_ipv4(*host, &ip, &why) != 0) {
    fprintf(stderr, "tt %s: bad %s '%s': %s\n", cmd, flag, host->c_str(), why.c_str());
    return 2;
  }
  *host = ip;
  return 0;
}

/* ---- tt tracker ----------------------------------------------------------- */

static TrackerOptions g_tracker;
static const TrackerOptions kTrackerDefaults;  // what the usage shows as defaults
static std::string g_tracker_http;             // --http as given; run_tracker checks it
static const std::string kNoValue;             // the default of a flag that is off unless given
static const Flag kTrackerFlags[] = {
    {"--host", "IP", "UDP address or host name to listen on", FLAG_STRING, &g_tracker.host,
     &kTrackerDefaults.host, 0, 0, nullptr, nullptr},
    {"--port", "PORT", "UDP port", FLAG_INT, &g_tracker.port, &kTrackerDefaults.port, 0, 65535,
     "a free one", nullptr},
    {"--log", "PATH", "log file", FLAG_STRING, &g_tracker.log_path, &kTrackerDefaults.log_path, 0,
     0, nullptr, nullptr},
    {"--peer-ttl", "SECONDS", "forget a peer silent this long", FLAG_INT, &g_tracker.peer_ttl_s,
     &kTrackerDefaults.peer_ttl_s, 2, 86400, nullptr, "heartbeats every third of it"},
    {"--max-ids-per-ip", "N", "peer ids one IP may hold", FLAG_INT, &g_tracker.max_ids_per_ip,
     &kTrackerDefaults.max_ids_per_ip, 1, static_cast<int>(kMaxPeers), nullptr, nullptr},
    {"--max-files-per-ip", "N", "names registered from one IP address, all its peer ids together",
     FLAG_INT, &g_tracker.max_files_per_ip, &kTrackerDefaults.max_files_per_ip, 1,
     static_cast<int>(kMaxRegistrations), nullptr, nullptr},
    {"--max-contents-per-ip", "N", "contents one IP address may introduce under one name", FLAG_INT,
     &g_tracker.max_contents_per_ip, &kTrackerDefaults.max_contents_per_ip, 1, 65536, nullptr,
     nullptr},
    {"--log-max-size", "MIB", "rotate the log to PATH.1 at this size", FLAG_INT,
     &g_tracker.log_max_mib, &kTrackerDefaults.log_max_mib, 1, 1048576, nullptr, nullptr},
    {"--http", "HOST:PORT", "serve /metrics and a status page over HTTP", FLAG_STRING,
     &g_tracker_http, &kNoValue, 0, 0, "off", nullptr},
    {"--bt-max-swarms", "N", "BitTorrent info hashes at once", FLAG_INT, &g_tracker.bt_max_swarms,
     &kTrackerDefaults.bt_max_swarms, 1, 1 << 28, nullptr, nullptr},
    {"--bt-max-peers", "N", "BitTorrent peers at once, all info hashes together", FLAG_INT,
     &g_tracker.bt_max_peers, &kTrackerDefaults.bt_max_peers, 1, 1 << 30, nullptr, nullptr},
    {"--bt-max-peers-per-ip", "N", "BitTorrent peers from one IP", FLAG_INT,
     &g_tracker.bt_max_peers_per_ip, &kTrackerDefaults.bt_max_peers_per_ip, 65536, 1 << 30, nullptr,
     nullptr},
    {"--bt-interval", "SECONDS", "BitTorrent announce interval", FLAG_INT, &g_tracker.bt_interval_s,
     &kTrackerDefaults.bt_interval_s, 10, 86400, nullptr, "silent for two: gone"},
};

static void tracker_usage(FILE* out) {
  print_usage(out, find_subcommand("tracker"));
}

static int run_tracker(int argc, char** argv) {
  int r = parse_flags(find_subcommand("tracker"), argc, argv);
  if (r != 0) return r;
  if (resolve_host_flag("tracker", "--host", &g_tracker.host) != 0) return 2;
  // --http HOST:PORT, checked here only: HOST as every host flag; PORT digits
  // only (no sign, no blank), 0 (a free one) to 65535.
  if (g_tracker_http.empty()) return tracker_main(g_tracker);
  size_t colon = g_tracker_http.rfind(':');
  std::string port = colon == std::string::npos ? "" : g_tracker_http.substr(colon + 1);
  if (colon == std::string::npos || colon == 0 || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || atol(port.c_str()) > 65535) {
    fprintf(stderr,
            "tt tracker: bad --http '%s': expected HOST:PORT, PORT from 0 to 65535 (e.g. "
            "127.0.0.1:8080)\n",
            out_sanitize(g_tracker_http).c_str());
    return 2;
  }
  std::string host = g_tracker_http.substr(0, colon);
  if (resolve_host_flag("tracker", "--http", &host) != 0) return 2;
  g_tracker.http_ip = host;
  g_tracker.http_port = atoi(port.c_str());
  return tracker_main(g_tracker);
}

/* ---- tt peer -------------------------------------------------------------- */

static PeerOptions g_peer;
static const PeerOptions kPeerDefaults;  // what the usage shows as defaults
static const Flag kPeerFlags[] = {
    {"--id", "ID", "this peer's id (asked for on a terminal when missing)", FLAG_STRING, &g_peer.id,
     &kPeerDefaults.id, 0, 0, nullptr, nullptr},
    {"--tracker", "HOST:PORT", "the tracker", FLAG_STRING, &g_peer.tracker, &kPeerDefaults.tracker,
     0, 0, nullptr, nullptr},
    {"--dir", "DIR", "directory to share from and download into", FLAG_STRING, &g_peer.dir,
     &kPeerDefaults.dir, 0, 0, nullptr, nullptr},
    {"--host", "IP", "TCP address or host name to serve on", FLAG_STRING, &g_peer.host,
     &kPeerDefaults.host, 0, 0, nullptr, nullptr},
    {"--port", "PORT", "TCP port to serve on", FLAG_INT, &g_peer.port, &kPeerDefaults.port, 0,
     65535, "a free one", nullptr},
    {"--log", "PATH", "log file", FLAG_STRING, &g_peer.log_path, &kPeerDefaults.log_path, 0, 0,
     ".peer_ID.log", nullptr},
    {"--sources", "K", "download from up to K sources at once", FLAG_INT, &g_peer.sources,
     &kPeerDefaults.sources, 1, static_cast<int>(kMaxSources), nullptr, nullptr},
    {"--timeout", "SECONDS", "give up on a source that sends nothing for this long", FLAG_INT,
     &g_peer.timeout_s, &kPeerDefaults.timeout_s, 1, 86400, nullptr, nullptr},
    {"--max-upload-rate", "RATE", "bytes per second served to others, K or M suffix", FLAG_RATE,
     &g_peer.max_upload_rate, &kPeerDefaults.max_upload_rate, 0, 0, "no limit", nullptr},
    {"--max-download-rate", "RATE", "bytes per second downloaded, K or M suffix", FLAG_RATE,
     &g_peer.max_download_rate, &kPeerDefaults.max_download_rate, 0, 0, "no limit", nullptr},
    {"--max-conns-per-ip", "N", "connections served at once to one address", FLAG_INT,
     &g_peer.max_conns_per_ip, &kPeerDefaults.max_conns_per_ip, 1, static_cast<int>(kMaxServeConns),
     nullptr, nullptr},
    {"--min-rate", "RATE", "drop a source sending under RATE bytes/s for --timeout", FLAG_RATE,
     &g_peer.min_rate, &kPeerDefaults.min_rate, 0, 0, "never", nullptr},
    {"--max-unverified-size", "SIZE", "largest download of unknown size, K or M suffix", FLAG_SIZE,
     &g_peer.max_unverified_size, &kPeerDefaults.max_unverified_size, 0, 0, "none", nullptr},
    {"--quiet", "", "print errors only (on stderr), and what status, list and help print",
     FLAG_BOOL, &g_peer.quiet, &kPeerDefaults.quiet, 0, 0, nullptr, nullptr},
};

static void peer_usage(FILE* out) {
  print_usage(out, find_subcommand("peer"));
}

// The seed asks for the id at start; tt does so only on a terminal.
static int ask_id(std::string* id) {
  if (!isatty(0)) return -1;
  fputs("Enter peer ID: ", stdout);
  fflush(stdout);
  char line[256];
  if (fgets(line, sizeof line, stdin) == nullptr) return -1;
  std::string s = line;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.pop_back();
  *id = s;
  return 0;
}

// Resolves --tracker and --host and checks --dir for `tt peer` and `tt get`
// (sub names the subcommand in the error line). Returns 0, or -1 after
// printing why.
static int check_peer_places(const char* sub) {
  std::string tracker, why;
  if (net_resolve_hostport(g_peer.tracker, &tracker, &why) != 0) {
    fprintf(stderr, "tt %s: bad --tracker '%s': %s\n", sub, g_peer.tracker.c_str(), why.c_str());
    return -1;
  }
  g_peer.tracker = tracker;
  if (resolve_host_flag(sub, "--host", &g_peer.host) != 0) return -1;
  struct stat st;
  if (stat(g_peer.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "tt %s: --dir '%s' is not a directory\n", sub, g_peer.dir.c_str());
    return -1;
  }
  while (g_peer.dir.size() > 1 && g_peer.dir.back() == '/')
    g_peer.dir.pop_back();
  return 0;
}

static int run_peer(int argc, char** argv) {
  int r = parse_flags(find_subcommand("peer"), argc, argv);
  if (r != 0) return r;
  if (g_peer.id.empty() && ask_id(&g_peer.id) != 0) {
    fprintf(stderr, "tt peer: --id is required when stdin is not a terminal\n");
    peer_usage(stderr);
    return 2;
  }
  std::string why;
  if (peer_check_id(g_peer.id, &why) != 0) {
    fprintf(stderr, "tt peer: bad --id '%s': %s\n", g_peer.id.c_str(), why.c_str());
    return 2;
  }
  if (check_peer_places("peer") != 0) return 2;
  return peer_main(g_peer);
}

/* ---- tt get --------------------------------------------------------------- */

// tt get takes a subset of tt peer's flags, into the same options (one
// process runs one subcommand): each row names a peer flag, and says its help
// only where it differs for tt get.
struct FlagRef {
  const char* name;
  const char* help;  // nullptr: the peer flag's
  const char* zero;  // nullptr: the peer flag's
};
static const FlagRef kGetFlagRefs[] = {
    {"--tracker", nullptr, nullptr},
    {"--dir", "directory to download into", nullptr},
    {"--host", "TCP address or host name to serve pieces on meanwhile", nullptr},
    {"--port", nullptr, nullptr},
    {"--log", nullptr, "none"},
    {"--sources", nullptr, nullptr},
    {"--timeout", nullptr, nullptr},
    {"--max-download-rate", nullptr, nullptr},
    {"--min-rate", nullptr, nullptr},
    {"--max-unverified-size", nullptr, nullptr},
    {"--quiet", "print errors only (on stderr): no progress, no other lines", nullptr},
};
static constexpr size_t kNumGetFlags = sizeof kGetFlagRefs / sizeof kGetFlagRefs[0];
static Flag kGetFlags[kNumGetFlags];  // filled from kPeerFlags by get_flags_init

static void get_flags_init() {
  for (size_t i = 0; i < kNumGetFlags; i++) {
    for (const Flag& f : kPeerFlags) {
      if (strcmp(f.name, kGetFlagRefs[i].name) == 0) kGetFlags[i] = f;
    }
    if (kGetFlagRefs[i].help != nullptr) kGetFlags[i].help = kGetFlagRefs[i].help;
    if (kGetFlagRefs[i].zero != nullptr) kGetFlags[i].zero = kGetFlagRefs[i].zero;
  }
}

// On stderr (after a usage error) nothing more than the one error line: a
// script's log keeps one line per failure; --help prints the rest.
static void get_usage(FILE* out) {
  if (out == stderr) return;
  print_usage(out, find_subcommand("get"));
}

static int run_get(int argc, char** argv) {
  // NAME is the one argument that is neither a flag nor a flag's value.
  std::vector<char*> flags;
  std::vector<std::string> names;
  for (int i = 0; i < argc; i++) {
    const char* a = argv[i];
    if (a[0] != '-' || a[1] == '\0') {
      names.push_back(a);
      continue;
    }
    flags.push_back(argv[i]);
    bool takes_value = strchr(a, '=') == nullptr;
    for (const Flag& f : kGetFlags) {
      if (strcmp(a, f.name) == 0 && f.kind == FLAG_BOOL) takes_value = false;
    }
    if (takes_value && i + 1 < argc && strncmp(a, "--", 2) == 0) flags.push_back(argv[++i]);
  }
  int r = parse_flags(find_subcommand("get"), static_cast<int>(flags.size()), flags.data());
  if (r != 0) return r;
  if (names.size() != 1) {
    fprintf(stderr,
            names.empty() ? "tt get: which file? (tt get NAME|ID [--tracker HOST:PORT])\n"
                          : "tt get: one file at a time (got %zu)\n",
            names.size());
    return 2;
  }
  std::string why;
  if (proto_check_name(names[0], &why) != 0) {
    fprintf(stderr, "tt get: bad name \"%s\": %s\n", out_sanitize(names[0]).c_str(), why.c_str());
    return 2;
  }
  if (check_peer_places("get") != 0) return 2;
  g_peer.oneshot = names[0];
  g_peer.id = peer_oneshot_id();
  return peer_main(g_peer);
}

/* ---- tt id ---------------------------------------------------------------- */

static void id_usage(FILE* out) {
  print_usage(out, find_subcommand("id"));
}

static int run_id(int argc, char** argv) {
  if (argc == 0) {
    id_usage(stderr);
    return 2;
  }
  int rc = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      id_usage(stdout);
      return 0;
    }
    Manifest m;
    std::string err;
    if (manifest_hash_file(argv[i], &m, &err) != 0) {
      fprintf(stderr, "tt id: %s\n", err.c_str());
      rc = 1;
      continue;
    }
    printf("%s  %llu  %u  %s\n", m.id.c_str(), static_cast<unsigned long long>(m.size),
           m.piece_size, argv[i]);
  }
  return rc;
}

/* ---- tt, tt help ---------------------------------------------------------- */

static int run_help(int argc, char** argv);
static void help_usage(FILE* out) {
  print_usage(out, find_subcommand("help"));
}

static const Subcommand kSubcommands[] = {
    {"tracker", "run the tracker", run_tracker, tracker_usage, "",
     "Runs the tracker: it knows which peer has which file.\n", kTrackerFlags,
     sizeof kTrackerFlags / sizeof kTrackerFlags[0], tracker_console_commands},
    {"peer", "run a peer", run_peer, peer_usage, "--id ID",
     "Runs a peer: shares files and downloads them from other peers.\n", kPeerFlags,
     sizeof kPeerFlags / sizeof kPeerFlags[0], peer_console_commands},
    {"get", "download one file, then exit", run_get, get_usage, "NAME|ID",
     "Downloads one file (by name, or by content id or a prefix of at least 8 hex digits)\n"
     "as a peer of its own (id get-XXXXXXXX), then leaves the network. Exit status:\n"
     "0 the file is in place and verified, 1 it is not (why is on stderr), 2 bad usage.\n",
     kGetFlags, kNumGetFlags, nullptr},
    {"id", "print files' content ids", run_id, id_usage, "FILE...",
     "Prints each file's content id (the SHA-256 of its manifest, PROTOCOL §3), its size\n"
     "and piece size, as a peer sharing it would announce them: ID  SIZE  PIECE_SIZE  FILE\n",
     nullptr, 0, nullptr},
    {"help", "show help for a command", run_help, help_usage, "[COMMAND [CONSOLE-COMMAND]]",
     "Prints the help of COMMAND, or the list of commands; with a console command of\n"
     "tt tracker or tt peer (tt help peer get), that command's help.\n",
     nullptr, 0, nullptr},
};

/* ---- help text, made from the tables above --------------------------------- */

// A flag as the synopsis shows it: "--port PORT", or "--quiet" when it takes no value.
static std::string flag_word(const Flag& f) {
  std::string w = f.name;
  if (f.metavar != nullptr && f.metavar[0] != '\0') w += std::string(" ") + f.metavar;
  return w;
}

// Whether the operands name the flag (peer: "--id ID"), so the synopsis does not
// list it again as optional.
static bool names_flag(const char* operands, const char* flag) {
  if (operands == nullptr) return false;
  std::string ops = std::string(" ") + operands + " ";
  return ops.find(std::string(" ") + flag + " ") != std::string::npos;
}

// Appends WORD to the synopsis line, first printing the line and starting a new
// one indented by INDENT when it would pass column 79.
static void synopsis_add(FILE* out, std::string* line, size_t indent, const std::string& word) {
  if (line->size() + 1 + word.size() > 79 && line->size() > indent) {
    fprintf(out, "%s\n", line->c_str());
    *line = std::string(indent - 1, ' ');
  }
  *line += " " + word;
}

// The usage of one subcommand: synopsis, what it does, its flags, its console commands.
static void print_usage(FILE* out, const Subcommand* s) {
  std::string line = std::string("usage: tt ") + s->name;
  size_t indent = line.size() + 1;
  if (s->operands != nullptr && s->operands[0] != '\0')
    synopsis_add(out, &line, indent, s->operands);
  for (size_t i = 0; i < s->nflags; i++) {
    if (!names_flag(s->operands, s->flags[i].name))
      synopsis_add(out, &line, indent, "[" + flag_word(s->flags[i]) + "]");
  }
  fprintf(out, "%s\n", line.c_str());
  if (s->about != nullptr) fputs(s->about, out);
  if (s->nflags > 0) print_flags(out, s->flags, s->nflags);
  if (s->console == nullptr) return;
  ConsoleTable table = s->console();
  const ConsoleCmd* cmds = table.rows;
  size_t n = table.n;
  fprintf(out, "Console commands (typed, or piped one per line):\n");
  std::vector<std::string> left, help;
  for (size_t i = 0; i < n; i++) {
    left.push_back(std::string(cmds[i].name) + (cmds[i].args[0] ? " " : "") + cmds[i].args);
    help.push_back(cmds[i].help);
  }
  print_columns(out, left, help);
}

// `tt help --dump` (not in the usage): every subcommand, its flags and its
// console commands, one per line, the fields separated by tabs:
//   command<TAB>SUBCOMMAND<TAB>SUMMARY
//   flag<TAB>SUBCOMMAND<TAB>--FLAG<TAB>METAVAR      (METAVAR empty: takes no value)
//   console<TAB>SUBCOMMAND<TAB>COMMAND<TAB>ARGS     (COMMAND may be two words)
// tests/e2e/test_docs.py checks the README, the man page and the shell
// completion against it.
static void dump_help(FILE* out) {
  for (const Subcommand& s : kSubcommands) {
    fprintf(out, "command\t%s\t%s\n", s.name, s.summary);
    for (size_t i = 0; i < s.nflags; i++) {
      const char* meta = s.flags[i].metavar != nullptr ? s.flags[i].metavar : "";
      fprintf(out, "flag\t%s\t%s\t%s\n", s.name, s.flags[i].name, meta);
    }
    if (s.console == nullptr) continue;
    ConsoleTable table = s.console();
    const ConsoleCmd* cmds = table.rows;
    size_t n = table.n;
    for (size_t i = 0; i < n; i++)
      fprintf(out, "console\t%s\t%s\t%s\n", s.name, cmds[i].name, cmds[i].args);
  }
}

static void main_usage(FILE* out) {
  fprintf(out, "usage: tt COMMAND [FLAGS]   (tt --help, tt --version, tt help COMMAND)\n");
  fprintf(out, "tt shares files peer to peer: a tracker knows who has which file.\n\nCommands:\n");
  for (const Subcommand& s : kSubcommands)
    fprintf(out, "  %-10s %s\n", s.name, s.summary);
}

static const Subcommand* find_subcommand(const char* name) {
  for (const Subcommand& s : kSubcommands) {
    if (strcmp(s.name, name) == 0) return &s;
  }
  return nullptr;
}

// `tt help tracker|peer CONSOLE-COMMAND`: one console command's line of the table.
static int help_console(const Subcommand* s, int argc, char** argv) {
  std::string want;
  for (int i = 0; i < argc; i++)
    want += (i > 0 ? " " : "") + std::string(argv[i]);
  ConsoleTable table = s->console != nullptr ? s->console() : ConsoleTable{nullptr, 0};
  const ConsoleCmd* cmds = table.rows;
  size_t n = table.n;
  for (size_t i = 0; i < n; i++) {
    if (want != cmds[i].name) continue;
    printf("%s%s%s  (console command of tt %s)\n  %s\n", cmds[i].name, cmds[i].args[0] ? " " : "",
           cmds[i].args, s->name, cmds[i].help);
    return 0;
  }
  if (n == 0) {
    fprintf(stderr, "tt help: tt %s has no console commands\n", s->name);
  } else {
    fprintf(stderr, "tt help: tt %s has no console command '%s'; its commands:", s->name,
            want.c_str());
    for (size_t i = 0; i < n; i++)
      fprintf(stderr, "%s %s", i > 0 ? "," : "", cmds[i].name);
    fprintf(stderr, "\n");
  }
  return 2;
}

static int run_help(int argc, char** argv) {
  if (argc == 0) {
    main_usage(stdout);
    return 0;
  }
  if (argc == 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
    help_usage(stdout);
    return 0;
  }
  if (argc == 1 && strcmp(argv[0], "--dump") == 0) {
    dump_help(stdout);
    return 0;
  }
  const Subcommand* s = find_subcommand(argv[0]);
  if (s == nullptr) {
    fprintf(stderr, "tt help: unknown command '%s'\n", argv[0]);
    main_usage(stderr);
    return 2;
  }
  if (argc == 1) {
    s->usage(stdout);
    return 0;
  }
  return help_console(s, argc - 1, argv + 1);
}

int main(int argc, char** argv) {
  get_flags_init();
  if (argc < 2) {
    main_usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    main_usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("tt %s\n", TT_VERSION);
    return 0;
  }
  const Subcommand* s = find_subcommand(argv[1]);
  if (s == nullptr) {
    fprintf(stderr, "tt: unknown command '%s'\n", argv[1]);
    main_usage(stderr);
    return 2;
  }
  return s->run(argc - 2, argv + 2);
}
