// churn HOST PORT SECONDS: opens and closes one connection after another for SECONDS, the client
// closing first so the TIME_WAIT stays on this side (like a gateway closing upstream connections).
// Prints the connects made in each second, the rate, and failures (EADDRNOTAVAIL = no free port).
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: churn HOST PORT SECONDS\n"); return 2; }
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
  inet_pton(AF_INET, argv[1], &a.sin_addr);
  double dur = atof(argv[3]), t0 = now(), first_fail = -1;
  long ok = 0, nfail = 0, eaddr = 0, sec_ok = 0; int sec = 1;
  printf("connects per second: ");
  while (now() - t0 < dur) {
    if (now() - t0 >= sec) { printf("%ld ", ok - sec_ok); fflush(stdout); sec_ok = ok; sec++; }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) { nfail++; continue; }
    if (connect(fd, (void *)&a, sizeof a) == 0) ok++;
    else {
      nfail++;
      if (first_fail < 0) first_fail = now() - t0;
      if (errno == EADDRNOTAVAIL) { eaddr++; usleep(1000); }
    }
    close(fd);
  }
  double el = now() - t0;
  printf("\nconnections=%ld (%.0f/s) failed=%ld (EADDRNOTAVAIL %ld)", ok, ok / el, nfail, eaddr);
  if (first_fail >= 0) printf(" first failure at %.2fs", first_fail);
  printf("\n");
  return 0;
}
