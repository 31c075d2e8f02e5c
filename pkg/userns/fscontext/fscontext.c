// The single-threaded half of pkg/userns. bpftoken_fsopen_in starts a child
// the way posix_spawn does: clone(CLONE_VM|CLONE_VFORK) on a stack of its
// own, so nothing of the parent's address space is copied and the calling
// thread sleeps until the child exits. The child is a task of its own with
// one thread, which is what setns(CLONE_NEWUSER) demands; it runs nothing
// but the system calls below and exits, so it never touches the Go runtime
// or any lock another thread of the parent may hold. It joins the user
// namespace, becomes that namespace's root, joins the mount namespace, opens
// a filesystem context and passes its fd back over a socketpair.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fscontext.h"

#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#endif

// Steps, reported back as one byte so that the child formats nothing.
static const char *const steps[] = {
	[STEP_NONE] = "",
	[STEP_PDEATHSIG] = "set parent-death signal",
	[STEP_USERNS] = "join user namespace",
	[STEP_SETGID] = "become gid 0 in the user namespace (is gid 0 mapped?)",
	[STEP_SETUID] = "become uid 0 in the user namespace (is uid 0 mapped?)",
	[STEP_MNTNS] = "join mount namespace",
	[STEP_FSOPEN] = "fsopen",
};

const char *bpftoken_step_name(int step) {
	if (step < 0 || step >= (int)(sizeof steps / sizeof steps[0]))
		return "namespace helper";
	return steps[step];
}

// child_fail sends {step, errno} and exits. Raw syscalls only.
static void child_fail(int sock, int step) {
	int msg[2] = {step, errno};
	(void)!syscall(SYS_sendto, sock, msg, sizeof msg, MSG_NOSIGNAL, NULL, 0);
	syscall(SYS_exit_group, 1);
}

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

// close_all_but closes every fd except a, b and c (close_range, Linux 5.9).
static void close_all_but(int a, int b, int c) {
	int keep[3] = {a, b, c};
	for (int i = 0; i < 2; i++) // sort three
		for (int j = 0; j < 2 - i; j++)
			if (keep[j] > keep[j + 1]) {
				int t = keep[j];
				keep[j] = keep[j + 1];
				keep[j + 1] = t;
			}
	unsigned int from = 0;
	for (int i = 0; i < 3; i++) {
		if ((unsigned int)keep[i] > from)
			(void)syscall(SYS_close_range, from, (unsigned int)keep[i] - 1, 0);
		from = (unsigned int)keep[i] + 1;
	}
	(void)syscall(SYS_close_range, from, ~0U, 0);
}

struct child_args {
	int sock, userns, mntns;
	const char *fstype;
	pid_t parent;
};

static int child(void *p) {
	const struct child_args *a = p;
	int sock = a->sock, userns = a->userns, mntns = a->mntns;
	const char *fstype = a->fstype;
	pid_t parent = a->parent;
	// The parent's thread blocked every signal around fork; keep it so: a
	// Go signal handler must never run in this copy of the process.
	if (syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		child_fail(sock, STEP_PDEATHSIG);
	// Nothing of the host's may be reachable from inside the container's
	// namespaces: keep only the three fds this child needs (its fd table is
	// its own copy), and let no one in there ptrace it.
	close_all_but(sock, userns, mntns);
	(void)syscall(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (syscall(SYS_getppid) != parent)
		syscall(SYS_exit_group, 1);
	(void)syscall(SYS_prctl, PR_SET_NAME, "bpftoken-helper", 0, 0, 0);
	if (syscall(SYS_setns, userns, CLONE_NEWUSER) < 0)
		child_fail(sock, STEP_USERNS);
	// The bpffs root is owned by the opener's fsuid/fsgid: become the
	// container's root. Supplementary groups may be locked ("setgroups
	// deny"); they play no part in ownership.
	(void)syscall(SYS_setgroups, 0, NULL);
	if (syscall(SYS_setresgid, 0, 0, 0) < 0)
		child_fail(sock, STEP_SETGID);
	if (syscall(SYS_setresuid, 0, 0, 0) < 0)
		child_fail(sock, STEP_SETUID);
	if (syscall(SYS_setns, mntns, CLONE_NEWNS) < 0)
		child_fail(sock, STEP_MNTNS);
	int fs = syscall(SYS_fsopen, fstype, FSOPEN_CLOEXEC);
	if (fs < 0)
		child_fail(sock, STEP_FSOPEN);

	int ok[2] = {STEP_NONE, 0};
	char buf[CMSG_SPACE(sizeof(int))];
	memset(buf, 0, sizeof buf);
	struct iovec io = {.iov_base = ok, .iov_len = sizeof ok};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fs, sizeof(int));
	if (syscall(SYS_sendmsg, sock, &m, MSG_NOSIGNAL) < 0)
		syscall(SYS_exit_group, 1);
	syscall(SYS_exit_group, 0);
	return 0;
}

// The child's own stack: with CLONE_VM it must not run on the parent's.
#define CHILD_STACK_SIZE (64 * 1024)

int bpftoken_fsopen_in(int userns, int mntns, const char *fstype, int *step, int *err) {
	*step = STEP_NONE;
	*err = 0;
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		*err = errno;
		return -1;
	}
	void *stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		*err = errno;
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	struct child_args args = {.sock = sp[1], .userns = userns, .mntns = mntns, .fstype = fstype, .parent = getpid()};
	// Block every signal around the clone: a Go signal handler must never
	// run in the child, which shares the parent's memory.
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid_t pid = clone(child, (char *)stack + CHILD_STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
	int clone_errno = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	munmap(stack, CHILD_STACK_SIZE);
	close(sp[1]);
	if (pid < 0) {
		close(sp[0]);
		*err = clone_errno;
		return -1;
	}

	// CLONE_VFORK: the child has exited by now, so its answer (or nothing,
	// if it died) is already in the socket.
	int fd = -1;
	int msg[2] = {0, 0};
	char buf[CMSG_SPACE(sizeof(int))];
	struct iovec io = {.iov_base = msg, .iov_len = sizeof msg};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf};
	ssize_t got;
	do
		got = recvmsg(sp[0], &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (got < 0 && errno == EINTR);
	struct cmsghdr *cm = got > 0 ? CMSG_FIRSTHDR(&m) : NULL;
	if (got == (ssize_t)sizeof msg && msg[0] == STEP_NONE && cm != NULL &&
	    cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	} else if (got == (ssize_t)sizeof msg && msg[0] != STEP_NONE) {
		*step = msg[0];
		*err = msg[1];
	} else {
		*err = got < 0 && errno != EAGAIN ? errno : ECHILD; // exited without an answer
	}
	close(sp[0]);
	if (fd < 0)
		kill(pid, SIGKILL);
	int status;
	while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR)
		;
	return fd;
}
