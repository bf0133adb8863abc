/* SPDX-License-Identifier: MIT */
/*
 * What hdbench reads about processes and the kernel: CPU seconds and
 * resident memory of the relay from /proc, its own CPU, TCP socket memory,
 * and the open-file limit it needs.
 */
#ifndef HD_BENCH_PROC_H
#define HD_BENCH_PROC_H

#include <stdint.h>

/* utime + stime of a process, in seconds (/proc/PID/stat). Returns 0 or -1. */
int proc_cpu_seconds(int pid, double *out);
/* VmRSS of a process in KiB (/proc/PID/status). Returns 0 or -1. */
int proc_rss_kib(int pid, uint64_t *out);
/* CPU seconds of this process so far (all threads). */
double self_cpu_seconds(void);
/*
 * Kernel slab memory, whole machine, in bytes (/proc/meminfo Slab): where
 * socket, file and epoll objects live, both ends of every connection.
 */
int kernel_slab_bytes(uint64_t *out);
/*
 * Raises RLIMIT_NOFILE to at least need (the hard limit too, when allowed).
 * Warns on stderr if it cannot; returns the limit in force.
 */
uint64_t raise_fd_limit(uint64_t need);

#endif
