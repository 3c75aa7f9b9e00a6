// The HTTP server; see http.h. A connection reads one request through
// http_parser, answers it (or refuses it: 400, 405, 404, 413, 431), shuts its
// side down and drains the client's bytes until its close or kHttpLingerMs,
// so the answer is not lost to a reset; a client that half-closes after its
// request still gets the whole answer. The request must arrive within
// kHttpHeadTimeoutMs and the answer be taken within kHttpSendTimeoutMs. At most
// kHttpMaxConns connections are open at once and kHttpMaxConnsPerAddr from one
// address; a new connection past either limit closes the oldest unanswered one
// (of that address, or of all), so idle connections cannot shut others out.
#include "http.h"

#include <arpa/inet.h>
#include <http_parser.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "limits.h"
#include "netaddr.h"

struct HttpConn {
  HttpServer* s = nullptr;
  uv_tcp_t tcp;
  uv_timer_t timer;
  http_parser parser;
  std::string url;
  size_t head_bytes = 0;  // read before the end of the headers
  bool headers_done = false;
  bool message_done = false;
  bool has_body = false;
  bool too_big = false;
  bool answered = false;  // the answer is written: what comes in is drained
  bool closing = false;
  bool shut_down = false;  // our side is shut down: the answer is sent
  bool peer_eof = false;   // the client has shut its side down
  bool listed = false;     // in s->conns and counted in s->per_addr
  uint32_t addr = 0;       // the client's IPv4 address (network order), 0 if unknown
  std::list<HttpConn*>::iterator pos;
  int open_handles = 0;
  uv_write_t write_req;
  uv_shutdown_t shutdown_req;
  std::string out;
};

/* ----------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------- */

const char* http_reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Error";
  }
}

std::string http_html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

/* ----------------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------------- */

static void conn_on_closed(uv_handle_t* h) {
  HttpConn* c = static_cast<HttpConn*>(h->data);
  if (--c->open_handles == 0) delete c;
}

static void conn_close(HttpConn* c) {
  if (c->closing) return;
  c->closing = true;
  if (c->listed) {
    HttpServer* s = c->s;
    s->conns.erase(c->pos);
    auto it = s->per_addr.find(c->addr);
    if (it != s->per_addr.end() && --it->second == 0) s->per_addr.erase(it);
    c->listed = false;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), conn_on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), conn_on_closed);
}

static void conn_on_timeout(uv_timer_t* t) {
  conn_close(static_cast<HttpConn*>(t->data));
}

static void conn_on_shutdown(uv_shutdown_t* req, int) {
  HttpConn* c = static_cast<HttpConn*>(req->data);
  if (c->closing) return;
  c->shut_down = true;
  if (c->peer_eof) {
    conn_close(c);  // both sides are done: nothing is left to drain
    return;
  }
  // The client reads the answer and closes; its close (EOF) or the linger ends it.
  uv_timer_start(&c->timer, conn_on_timeout, kHttpLingerMs, 0);
}

static void conn_on_write(uv_write_t* req, int status) {
  HttpConn* c = static_cast<HttpConn*>(req->data);
  if (c->closing) return;
  if (status != 0 ||
      uv_shutdown(&c->shutdown_req, reinterpret_cast<uv_stream_t*>(&c->tcp), conn_on_shutdown) != 0)
    conn_close(c);
}

static void conn_answer(HttpConn* c, const HttpAnswer& a, const char* extra_headers = "") {
  c->answered = true;
  char head[512];
  snprintf(head, sizeof head,
           "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
           "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
           a.status, http_reason(a.status), a.content_type.c_str(), a.body.size(), extra_headers);
  c->out = head;
  c->out += a.body;
  // The head's timer ends here: the client now has this long to take the answer.
  uv_timer_start(&c->timer, conn_on_timeout, kHttpSendTimeoutMs, 0);
  uv_buf_t buf = uv_buf_init(&c->out[0], static_cast<unsigned>(c->out.size()));
  c->write_req.data = c;
  c->shutdown_req.data = c;
  if (uv_write(&c->write_req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1, conn_on_write) != 0)
    conn_close(c);
}

static void conn_refuse(HttpConn* c, int status, const char* why) {
  HttpAnswer a;
  a.status = status;
  a.body = std::string(why) + "\n";
  conn_answer(c, a);
}

// Looks the request up in the route table: a handler, 405 (a method no route
// takes, or a path another method takes) or 404.
static void conn_route(HttpConn* c) {
  HttpServer* s = c->s;
  HttpRequest req;
  req.method = http_method_str(static_cast<enum http_method>(c->parser.method));
  size_t q = c->url.find('?');
  req.path = c->url.substr(0, q);
  if (q != std::string::npos) req.query = c->url.substr(q + 1);
  req.addr = c->addr;
  bool method_known = false, path_known = false;
  for (size_t i = 0; i < s->routes.n; i++) {
    const HttpRoute& r = s->routes.rows[i];
    bool m = strcmp(r.method, req.method) == 0, p = req.path == r.path;
    if (m && p) {
      HttpAnswer a;
      r.handler(s->ctx, req, &a);
      conn_answer(c, a);
      return;
    }
    method_known |= m;
    path_known |= p;
  }
  if (!method_known || path_known) {
    HttpAnswer a;
    a.status = 405;
    a.body = "method not allowed\n";
    conn_answer(c, a, "Allow: GET\r\n");
    return;
  }
  conn_refuse(c, 404, "not found");
}

static int on_url(http_parser* p, const char* at, size_t len) {
  HttpConn* c = static_cast<HttpConn*>(p->data);
  if (c->url.size() + len > kHttpMaxHead) {
    c->too_big = true;
    return -1;
  }
  c->url.append(at, len);
  return 0;
}

static int on_headers_complete(http_parser* p) {
  HttpConn* c = static_cast<HttpConn*>(p->data);
  c->headers_done = true;
  if ((p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length > 0)) {
    c->has_body = true;  // nothing here takes a body
    return -1;
  }
  return 0;
}

static int on_message_complete(http_parser* p) {
  static_cast<HttpConn*>(p->data)->message_done = true;
  return -1;  // one request per connection: what follows is not read
}

static const http_parser_settings kSettings = [] {
  http_parser_settings st;
  http_parser_settings_init(&st);
  st.on_url = on_url;
  st.on_headers_complete = on_headers_complete;
  st.on_message_complete = on_message_complete;
  return st;
}();

static void conn_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  HttpConn* c = static_cast<HttpConn*>(h->data);
  *buf = uv_buf_init(c->s->rbuf, sizeof c->s->rbuf);
}

static void conn_on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  HttpConn* c = static_cast<HttpConn*>(stream->data);
  if (c->closing) return;
  if (nread == UV_EOF && c->answered) {
    // The client half-closed after its request: the answer is still written
    // and our side shut down before the connection closes.
    c->peer_eof = true;
    uv_read_stop(stream);
    if (c->shut_down) conn_close(c);
    return;
  }
  if (nread < 0) {
    conn_close(c);  // EOF or an error: before an answer, the request never came whole
    return;
  }
  if (nread == 0 || c->answered) return;  // drained after the answer
  size_t n = static_cast<size_t>(nread);
  // The head is counted before it is parsed, so a large read cannot pass the limit.
  size_t feed = n;
  if (!c->headers_done && c->head_bytes + n > kHttpMaxHead) {
    feed = kHttpMaxHead - c->head_bytes;
    c->too_big = true;
  }
  c->head_bytes += feed;
  http_parser_execute(&c->parser, &kSettings, buf->base, feed);
  if (c->message_done) {
    conn_route(c);
  } else if (c->has_body) {
    conn_refuse(c, 413, "request bodies are not accepted");
  } else if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK &&
             HTTP_PARSER_ERRNO(&c->parser) != HPE_HEADER_OVERFLOW && !c->too_big) {
    conn_refuse(c, 400, http_errno_description(HTTP_PARSER_ERRNO(&c->parser)));
  } else if (c->too_big || HTTP_PARSER_ERRNO(&c->parser) == HPE_HEADER_OVERFLOW) {
    conn_refuse(c, 431, "the request line and headers are too large");
  }
}

// Whether c may go before `best` (the one chosen so far): unanswered ones
// first, as those hold a place without having been served; else the oldest.
static bool conn_goes_first(const HttpConn* c, const HttpConn* best) {
  return best == nullptr || (!c->answered && best->answered);
}

// The connection of the address to close first (conn_goes_first).
static HttpConn* oldest_conn_of(HttpServer* s, uint32_t addr) {
  HttpConn* best = nullptr;
  for (HttpConn* c : s->conns) {
    if (c->addr == addr && conn_goes_first(c, best)) best = c;
  }
  return best;
}

// The connection of any address to close first (conn_goes_first).
static HttpConn* oldest_conn_any(HttpServer* s) {
  HttpConn* best = nullptr;
  for (HttpConn* c : s->conns) {
    if (conn_goes_first(c, best)) best = c;
  }
  return best;
}

static void on_connection(uv_stream_t* server, int status) {
  HttpServer* s = static_cast<HttpServer*>(server->data);
  if (status != 0) return;
  HttpConn* c = new HttpConn;
  c->s = s;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->open_handles = 2;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    conn_close(c);
    return;
  }
  c->addr = net_peer_ipv4(&c->tcp);
  // Past a limit, the oldest connection of that address (or of all) makes room.
  auto it = s->per_addr.find(c->addr);
  HttpConn* old = nullptr;
  if (it != s->per_addr.end() && it->second >= kHttpMaxConnsPerAddr)
    old = oldest_conn_of(s, c->addr);
  else if (s->conns.size() >= kHttpMaxConns)
    old = oldest_conn_any(s);
  if (old != nullptr) {
    s->evicted++;
    conn_close(old);
  }
  c->pos = s->conns.insert(s->conns.end(), c);
  s->per_addr[c->addr]++;
  c->listed = true;
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  uv_timer_start(&c->timer, conn_on_timeout, kHttpHeadTimeoutMs, 0);
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), conn_alloc, conn_on_read) != 0)
    conn_close(c);
}

/* ----------------------------------------------------------------------------
 * The server
 * ------------------------------------------------------------------------- */

int http_start(HttpServer* s, uv_loop_t* loop, const struct sockaddr_in* addr,
               const HttpRoutes& routes, void* ctx) {
  s->loop = loop;
  s->routes = routes;
  s->ctx = ctx;
  uv_tcp_init(loop, &s->tcp);
  s->tcp.data = s;
  s->open = true;
  int r = uv_tcp_bind(&s->tcp, reinterpret_cast<const struct sockaddr*>(addr), 0);
  if (r == 0) r = uv_listen(reinterpret_cast<uv_stream_t*>(&s->tcp), kTcpBacklog, on_connection);
  if (r != 0) http_close(s);
  return r;
}

int http_port(const HttpServer* s) {
  if (!s->open) return -1;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getsockname(&s->tcp, reinterpret_cast<struct sockaddr*>(&ss), &len) != 0) return -1;
  return ntohs(reinterpret_cast<struct sockaddr_in*>(&ss)->sin_port);
}

void http_close(HttpServer* s) {
  if (!s->open) return;
  s->open = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&s->tcp), nullptr);
  std::list<HttpConn*> conns = s->conns;
  for (HttpConn* c : conns)
    conn_close(c);
}
