// The single-threaded half of pkg/userns: when the environment variable
// _BPFTOKEN_NSENTER is set, this constructor runs before the Go runtime has
// started any thread, joins the user and mount namespaces it was given, opens
// a filesystem context there and hands its fd back over a unix socket. It
// never returns to Go in that case. Without the variable it returns at once.
//
// Protocol (all fds are inherited from the parent, numbers passed in the
// environment variable as "USERNS_FD,MNTNS_FD,SOCK_FD,FSTYPE"):
//   success: one byte 'F' with the fs context fd attached (SCM_RIGHTS), exit 0
//   failure: "E<errno>:<step>" as plain bytes, exit 1
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#endif

static void fail(int sock, const char *step) {
	char msg[256];
	int n = snprintf(msg, sizeof msg, "E%d:%s", errno, step);
	if (n > 0) {
		if (n >= (int)sizeof msg)
			n = sizeof msg - 1;
		(void)!write(sock, msg, n);
	}
	_exit(1);
}

static void send_fd(int sock, int fd) {
	char tag = 'F';
	char buf[CMSG_SPACE(sizeof(int))];
	struct iovec io = {.iov_base = &tag, .iov_len = 1};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf};
	memset(buf, 0, sizeof buf);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(sock, &m, MSG_NOSIGNAL) < 0)
		_exit(1);
}

__attribute__((constructor)) static void bpftoken_nsenter(void) {
	const char *env = getenv("_BPFTOKEN_NSENTER");
	if (env == NULL || *env == '\0')
		return;

	int userns = -1, mntns = -1, sock = -1;
	char fstype[32] = {0};
	if (sscanf(env, "%d,%d,%d,%31s", &userns, &mntns, &sock, fstype) != 4 || sock < 0)
		_exit(2);

	// If the parent dies, nothing should keep running on its behalf.
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		fail(sock, "prctl PR_SET_PDEATHSIG");
	if (getppid() == 1)
		_exit(1);

	if (setns(userns, CLONE_NEWUSER) < 0)
		fail(sock, "join user namespace");
	// Become the container's root so that the filesystem's root inode is owned
	// by it (bpffs takes the opener's fsuid/fsgid). Supplementary groups may be
	// locked ("setgroups deny"); they do not matter for ownership.
	(void)!setgroups(0, NULL);
	if (setresgid(0, 0, 0) < 0)
		fail(sock, "become gid 0 in the user namespace (is gid 0 mapped?)");
	if (setresuid(0, 0, 0) < 0)
		fail(sock, "become uid 0 in the user namespace (is uid 0 mapped?)");
	if (setns(mntns, CLONE_NEWNS) < 0)
		fail(sock, "join mount namespace");

	int fs = syscall(SYS_fsopen, fstype, FSOPEN_CLOEXEC);
	if (fs < 0)
		fail(sock, "fsopen");
	send_fd(sock, fs);
	_exit(0);
}
