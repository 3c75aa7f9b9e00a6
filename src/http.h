// A small HTTP/1.1 server on a libuv loop: one request per connection, parsed
// with http_parser (Debian's libhttp-parser), answered from a route table
// {method, path, handler} and closed ("Connection: close"). Bounded: the
// request head, the time a request may take, the connections at once and from
// one address (past either, the oldest unanswered one is closed to make room);
// bodies are refused. Owns a listening uv_tcp_t and each connection's uv_tcp_t
// and uv_timer_t. Used by tracker.cc (tt tracker --http).
#pragma once

#include <netinet/in.h>
#include <uv.h>

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>

struct HttpRequest {
  const char* method;  // "GET"
  std::string path;    // the request target up to any '?'
  std::string query;   // after the '?', without it
  uint32_t addr = 0;   // the client's IPv4 address (network order), 0 if unknown
};

struct HttpAnswer {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Fills *ans for req; never touches sockets. ctx is the server's.
typedef void (*HttpHandler)(void* ctx, const HttpRequest& req, HttpAnswer* ans);

struct HttpRoute {
  const char* method;  // "GET"
  const char* path;    // "/metrics": matched exactly
  HttpHandler handler;
};

// A route table: its rows, matched in order.
struct HttpRoutes {
  const HttpRoute* rows = nullptr;
  size_t n = 0;
};

struct HttpConn;

struct HttpServer {
  uv_loop_t* loop = nullptr;
  uv_tcp_t tcp;
  bool open = false;
  HttpRoutes routes;
  void* ctx = nullptr;
  std::list<HttpConn*> conns;                     // open connections, oldest first
  std::unordered_map<uint32_t, size_t> per_addr;  // open connections by IPv4 address
  uint64_t evicted = 0;                           // connections closed to make room for a newer one
  char rbuf[16384];  // every connection reads here in turn (one loop thread)
};

// Listens on addr and answers from routes (which must outlive the server).
int http_start(HttpServer* s, uv_loop_t* loop, const struct sockaddr_in* addr,
               const HttpRoutes& routes, void* ctx);
// The port it listens on (after a start on port 0), or -1.
int http_port(const HttpServer* s);
// Stops listening and closes every connection.
void http_close(HttpServer* s);
// The reason phrase of a status code ("Not Found").
const char* http_reason(int status);
// Text with &, <, >, " and ' replaced by entities, for HTML pages.
std::string http_html_escape(const std::string& s);
