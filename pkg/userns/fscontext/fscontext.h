#ifndef BPFTOKEN_FSCONTEXT_H
#define BPFTOKEN_FSCONTEXT_H

enum {
	STEP_NONE = 0,
	STEP_PDEATHSIG,
	STEP_USERNS,
	STEP_SETGID,
	STEP_SETUID,
	STEP_MNTNS,
	STEP_FSOPEN,
};

// bpftoken_fsopen_in returns an fs context fd (O_CLOEXEC) opened by a child
// in the given namespaces, or -1 with *err set (and *step when the child
// failed at a step).
int bpftoken_fsopen_in(int userns, int mntns, const char *fstype, int *step, int *err);
const char *bpftoken_step_name(int step);

#endif
