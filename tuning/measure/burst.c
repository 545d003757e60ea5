// burst HOST PORT N: opens N TCP connections as fast as possible (epoll, servicing ready sockets every
// 64 connects), sends "GET /health" on each once connected, and prints the distribution of the time
// from connect() to the first response byte, the count above 0.9 s (a dropped SYN/ACK costs >= 1 s)
// and failures.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static double *start, *lat; static int nlat, nfail, nopen, ep; static char *state;
static const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
static void done(int fd, int ok) { if (ok) lat[nlat++] = now() - start[fd]; else nfail++; close(fd); nopen--; }
static void pump(int timeout) {
  struct epoll_event ev[256]; int n = epoll_wait(ep, ev, 256, timeout);
  for (int i = 0; i < n; i++) {
    int fd = ev[i].data.fd;
    if (state[fd] == 'c') {
      int err = 0; socklen_t l = sizeof err; getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
      if (err || write(fd, req, sizeof req - 1) < 0) { done(fd, 0); continue; }
      state[fd] = 'r'; struct epoll_event e = {.events = EPOLLIN, .data.fd = fd}; epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
    } else { char buf[4096]; ssize_t r = read(fd, buf, sizeof buf); if (r < 0 && errno == EAGAIN) continue; done(fd, r > 0); }
  }
}
int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: burst HOST PORT N\n"); return 2; }
  int n = atoi(argv[3]); struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
  inet_pton(AF_INET, argv[1], &a.sin_addr);
  start = calloc(n + 4096, sizeof *start); lat = calloc(n, sizeof *lat); state = calloc(n + 4096, 1);
  ep = epoll_create1(0); double t0 = now();
  for (int i = 0; i < n; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) { nfail++; continue; }
    start[fd] = now();
    if (connect(fd, (void *)&a, sizeof a) < 0 && errno != EINPROGRESS) { nfail++; close(fd); continue; }
    state[fd] = 'c'; nopen++; struct epoll_event e = {.events = EPOLLOUT, .data.fd = fd}; epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
    if (i % 64 == 63) pump(0);
  }
  double loop = now() - t0;
  while (nopen && now() - t0 < 30) pump(100);
  qsort(lat, nlat, sizeof *lat, cmp);
#define P(p) (nlat ? lat[(int)((p) * (nlat - 1))] * 1e3 : 0)
  int slow = 0; for (int i = 0; i < nlat; i++) slow += lat[i] > 0.9;
  printf("n=%d ok=%d failed=%d timeout=%d slow(>0.9s)=%d p50=%.2fms p90=%.2fms p99=%.1fms max=%.0fms connect_loop=%.3fs all_done=%.2fs\n",
         n, nlat, nfail, nopen, slow, P(.5), P(.9), P(.99), P(1), loop, now() - t0);
  return 0;
}
