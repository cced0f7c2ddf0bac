/* bench/probes/sockfloor.c: build with  cc -O2 -o sockfloor sockfloor.c
 * Usage: taskset -c 1 ./sockfloor TEXT_BYTES WRITE_BYTES */
/* A floor for moving base64 text over a unix socket on one CPU: a writer
 * process sends SIZE bytes in PIECE-byte writes to a reader that reads into
 * a touched buffer; no encoding, no JSON. Prints MB/s of the raw data the
 * text stands for (SIZE * 3/4), best and median of 7. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e3+t.tv_nsec/1e6;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc, char **argv){
	size_t m = strtoul(argv[1],0,0), piece = strtoul(argv[2],0,0); char *src = malloc(m), *dst = malloc(m);
	double ms[7];
	memset(src, 'A', m); memset(dst, 0, m);
	int sv[2]; socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid_t pid = fork();
	if (pid == 0) { close(sv[0]); for (;;) { char go; if (read(sv[1], &go, 1) != 1) _exit(0);
		for (size_t o = 0; o < m; ) { size_t k = m - o < piece ? m - o : piece; ssize_t w = write(sv[1], src + o, k); if (w <= 0) _exit(1); o += w; } } }
	close(sv[1]);
	for (int r = 0; r < 7; r++) {
		usleep(20000); double t = now(); write(sv[0], "g", 1);
		size_t o = 0; ssize_t k; while (o < m && (k = read(sv[0], dst + o, m - o)) > 0) o += k;
		ms[r] = now() - t;
	}
	close(sv[0]); waitpid(pid, NULL, 0);
	qsort(ms, 7, sizeof(double), cmp);
	printf("%zu bytes of text in %zu-byte writes: best %.2f ms (%.0f MB/s of data), median %.2f ms (%.0f MB/s)\n",
	    m, piece, ms[0], m * 0.75 / 1e3 / ms[0], ms[3], m * 0.75 / 1e3 / ms[3]);
}
