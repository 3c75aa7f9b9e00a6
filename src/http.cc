// The HTTP server; see http.h. A connection reads one request through
// http_parser, answers it (or refuses it: 400, 405, 404, 413, 431), shuts its
// side down and drains the client's bytes until its close or kHttpLingerMs,
// so the answer is not lost to a reset. The whole request must arrive within
// kHttpTimeoutMs; at most kHttpMaxConns connections are open at once.
#include "http.h"

#include <arpa/inet.h>
#include <http_parser.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "limits.h"

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
  c->s->conns.erase(c);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), conn_on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), conn_on_closed);
}

static void conn_on_timeout(uv_timer_t* t) {
  conn_close(static_cast<HttpConn*>(t->data));
}

static void conn_on_shutdown(uv_shutdown_t* req, int) {
  HttpConn* c = static_cast<HttpConn*>(req->data);
  if (c->closing) return;
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
  bool method_known = false, path_known = false;
  for (size_t i = 0; i < s->n_routes; i++) {
    const HttpRoute& r = s->routes[i];
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
  s->conns.insert(c);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    conn_close(c);
    return;
  }
  if (s->conns.size() > kHttpMaxConns) {
    s->refused++;
    conn_close(c);  // too many at once: closed unanswered
    return;
  }
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  uv_timer_start(&c->timer, conn_on_timeout, kHttpTimeoutMs, 0);
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), conn_alloc, conn_on_read) != 0)
    conn_close(c);
}

/* ----------------------------------------------------------------------------
 * The server
 * ------------------------------------------------------------------------- */

int http_start(HttpServer* s, uv_loop_t* loop, const struct sockaddr_in* addr,
               const HttpRoute* routes, size_t n_routes, void* ctx) {
  s->loop = loop;
  s->routes = routes;
  s->n_routes = n_routes;
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
  std::unordered_set<HttpConn*> conns = s->conns;
  for (HttpConn* c : conns)
    conn_close(c);
}
