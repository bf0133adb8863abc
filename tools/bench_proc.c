// SPDX-License-Identifier: MIT
/* Process and kernel figures for hdbench (see bench_proc.h). */
#include "bench_proc.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int proc_cpu_seconds(int pid, double *out)
{
	unsigned long long utime, stime;
	char path[64], buf[2048];
	const char *p;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may contain spaces and parentheses: skip past the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	/* Fields 3..13 (state .. cmajflt), then 14 utime and 15 stime, in clock ticks. */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
		   &stime) != 2)
		return -1;
	*out = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

int proc_rss_kib(int pid, uint64_t *out)
{
	char path[64], line[256];
	int ret = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "VmRSS: %" SCNu64 " kB", out) == 1) {
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

double self_cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int kernel_slab_bytes(uint64_t *out)
{
	char line[256];
	uint64_t kib;
	int ret = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Slab: %" SCNu64 " kB", &kib) == 1) {
			*out = kib * 1024;
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

uint64_t raise_fd_limit(uint64_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_cur >= need)
		return rl.rlim_cur;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		/* Root may raise the hard limit as well (up to fs.nr_open). */
		struct rlimit more = { .rlim_cur = need, .rlim_max = need };

		if (setrlimit(RLIMIT_NOFILE, &more) == 0)
			return need;
	}
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < need)
		fprintf(stderr, "hdbench: warning: open file limit %llu is below the %llu needed\n",
			(unsigned long long)rl.rlim_cur, (unsigned long long)need);
	getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur;
}
