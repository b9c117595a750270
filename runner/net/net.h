/* net.h - the sandbox's network: a new network namespace holds only `lo`, brought up here;
 * no route, no DNS. (Later: the host-side allowlist proxy.) Never logs. */
#pragma once

struct err;

/* Bring up the loopback interface of the calling process's network namespace. Needs
 * CAP_NET_ADMIN in the namespace's owning user namespace. */
int net_loopback_up(struct err *err);
