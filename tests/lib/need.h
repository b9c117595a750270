/* need.h - what a test needs from the machine; a missing need skips with the reason. */
#pragma once

enum need {
	ROOT = 1 << 0,	  /* euid 0 */
	USERNS = 1 << 1,  /* can create a user namespace */
	CGROUP = 1 << 2,  /* a writable cgroup hierarchy with memory and pids (v1 or v2) */
	CGROUP2 = 1 << 3, /* cgroup v2 with memory and pids delegated to us */
	OVERLAY = 1 << 4, /* overlayfs in a user namespace */
	NET = 1 << 5,	  /* can create network namespaces */
};

void need(unsigned needs);
#define NEED(x) need(x)
