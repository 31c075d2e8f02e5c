package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/user"
	"path"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/remedy/engine"
	"github.com/nri-bpftoken/nri-bpftoken/internal/version"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/bpffs"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/policy"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/rootless"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/userns"
)

// server answers the requests of rootless hooks: one struct, its
// configuration set by main from the flags.
type server struct {
	log *logrus.Entry
	// policyFile is read for every request, so that an edit counts at once
	// and a policy made unreadable refuses rather than grants.
	policyFile string
	// timeout bounds one request, from accept to answer.
	timeout time.Duration
	// maxInFlight bounds the requests served at once; maxPerUser those of
	// one host user, so that one user cannot starve the others.
	maxInFlight, maxPerUser int
	// maxAbandoned is how many mount workers stuck on a hung file system
	// (userns.Abandoned) make the service refuse new mounts.
	maxAbandoned int

	mu      sync.Mutex
	running int
	perUser map[uint32]int
	wg      sync.WaitGroup
}

// serve accepts connections on l until ctx ends, then waits for the
// requests in progress (each bounded by the timeout).
func (s *server) serve(ctx context.Context, l *net.UnixListener) error {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	defer s.wg.Wait()
	for {
		conn, err := l.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
				// Out of fds: let the requests in progress end.
				s.log.WithError(err).Warn("accept")
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(ctx, conn)
		}()
	}
}

// requestWait is how long a client has to send its request.
const requestWait = 2 * time.Second

// answerGrace is how long after a request's deadline its answer may still
// be written.
const answerGrace = time.Second

// errBusy refuses a request over the service's or the user's bound.
var errBusy = errors.New("busy")

// admit counts a request of uid in, or says why not.
func (s *server) admit(uid uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running >= s.maxInFlight {
		return fmt.Errorf("%w: %d requests in progress: try again", errBusy, s.running)
	}
	if s.perUser[uid] >= s.maxPerUser {
		return fmt.Errorf("%w: %d requests of host uid %d in progress: try again", errBusy, s.perUser[uid], uid)
	}
	s.running++
	s.perUser[uid]++
	return nil
}

func (s *server) release(uid uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running--
	if s.perUser[uid]--; s.perUser[uid] == 0 {
		delete(s.perUser, uid)
	}
}

// handle serves one connection: one request, one answer.
func (s *server) handle(ctx context.Context, conn *net.UnixConn) {
	defer conn.Close()
	deadline := time.Now().Add(s.timeout)
	// The work ends at the deadline; the answer saying so still goes out.
	conn.SetDeadline(deadline.Add(answerGrace))
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	resp := s.answer(ctx, conn)
	resp.Service = version.Version
	resp.Error = spec.OneLine(resp.Error)
	data, err := rootless.EncodeResponse(*resp)
	if err != nil {
		s.log.WithError(err).Error("encode answer")
		return
	}
	if _, err := conn.Write(data); err != nil {
		s.log.WithError(err).Debug("write answer")
	}
}

// answer reads the request on conn and decides it.
func (s *server) answer(ctx context.Context, conn *net.UnixConn) *rootless.Response {
	cred, err := peerCred(conn)
	if err != nil {
		s.log.WithError(err).Warn("peer credentials")
		return &rootless.Response{Error: "the service could not read the caller's credentials: " + err.Error()}
	}
	log := s.log.WithFields(logrus.Fields{"uid": cred.uid, "pid": cred.pid})
	if err := s.admit(cred.uid); err != nil {
		log.WithError(err).Warn("request refused")
		return &rootless.Response{Error: err.Error()}
	}
	defer s.release(cred.uid)

	// A request is one message sent right after connecting: a client that
	// sends nothing holds its slot only briefly.
	conn.SetReadDeadline(time.Now().Add(min(s.timeout, requestWait)))
	req, fds, err := readRequest(conn)
	defer closeAll(fds)
	if err != nil {
		log.WithError(err).Info("malformed request")
		return &rootless.Response{Error: err.Error()}
	}
	u := hostUser(cred)
	log = log.WithField("user", u.Name)
	resp := &rootless.Response{User: u.String()}
	pol, err := s.loadPolicy()
	if err != nil {
		log.WithError(err).Error("policy")
		resp.Error = err.Error()
		return resp
	}
	resp.Policy = pol.Source
	w := policy.Workload{HostUser: u}
	if rule := pol.Selecting(w); rule != nil {
		resp.Rule, resp.Grant = rule.Name, grantOf(rule)
	}
	switch req.Op {
	case rootless.OpGrants:
		return resp
	case rootless.OpMount:
		log = log.WithField("container", spec.Echo(req.Container))
		// The client knows its container: the answer does not repeat it.
		if err := s.mount(ctx, log, pol, w, req, fds, resp); err != nil {
			resp.Error = err.Error()
			log.WithError(err).Info("request refused")
		}
	}
	return resp
}

// mount decides and does an OpMount request.
func (s *server) mount(ctx context.Context, log *logrus.Entry, pol *policy.Policy, w policy.Workload, req *rootless.Request, fds []int, resp *rootless.Response) error {
	if len(fds) != 1 {
		return fmt.Errorf("%w: a mount request passes exactly one fd, the pidfd of the container's process; this one passed %d", rootless.ErrMalformed, len(fds))
	}
	d, err := spec.ParseAnnotations(req.Annotations)
	if err != nil {
		return err
	}
	if d == nil {
		return fmt.Errorf("%w: no bpf.token/ annotation in the request", rootless.ErrMalformed)
	}
	if d.Shared {
		return fmt.Errorf("annotation %s: %s asks for a bpffs shared by a pod's containers, which only the NRI plugin gives: leave it out", spec.AnnotationScope, spec.ScopePod)
	}
	if !path.IsAbs(req.Rootfs) || len(req.Rootfs) > unix.PathMax || path.Clean(req.Rootfs) != req.Rootfs {
		return fmt.Errorf("%w: rootfs %s: not a clean absolute path", rootless.ErrMalformed, spec.Echo(req.Rootfs))
	}
	log = log.WithField("delegation", d.String())

	ns, err := userns.OpenByPidfd(fds[0])
	if err != nil {
		return fmt.Errorf("the pidfd passed: %w%s", err, engine.Hint(err, "the service"))
	}
	defer ns.Close()
	log = log.WithField("target_pid", ns.Pid)
	owner, err := ns.Owner()
	if err != nil {
		return fmt.Errorf("pid %d is not in namespaces of %s: %w: a user may only ask for their own containers", ns.Pid, w.HostUser, err)
	}
	if owner != w.HostUser.UID {
		return fmt.Errorf("pid %d is not in namespaces of %s (they belong to another user): a user may only ask for their own containers", ns.Pid, w.HostUser)
	}
	if err := pol.Check(w, *d); err != nil {
		return err
	}
	uid, gid := ns.RootIDs()
	if uid < 0 || gid < 0 {
		return fmt.Errorf("pid %d: the container's root user is not mapped to a host user: give it a user namespace that maps uid and gid 0", ns.Pid)
	}
	if n := userns.Abandoned(); n >= s.maxAbandoned {
		return fmt.Errorf("%w: %d earlier mounts are stuck on file systems that do not answer (FUSE or NFS?); the node's admin must fix those or restart bpftokend", errBusy, n)
	}
	res, err := bpffs.ProvisionWith(ctx, ns, bpffs.Target{Pid: ns.Pid, Rootfs: req.Rootfs, Delegation: *d, Unprivileged: true})
	if err != nil {
		return fmt.Errorf("delegated bpffs at %s: %w%s", spec.Echo(d.Path), err, engine.Hint(err, "the service"))
	}
	resp.MountID, resp.Options, resp.AlreadyMounted = res.MountID, res.SuperOptions, res.AlreadyMounted
	log.WithFields(logrus.Fields{"mount_id": res.MountID, "already_mounted": res.AlreadyMounted}).Info("delegated bpffs mounted")
	return nil
}

// loadPolicy reads the policy; none means nothing is granted.
func (s *server) loadPolicy() (*policy.Policy, error) {
	pol, err := policy.Load(s.policyFile)
	if err != nil {
		return nil, fmt.Errorf("%v: bpftokend grants nothing without the node's policy; ask the node's admin", err)
	}
	return pol, nil
}

// grantOf states a rule's ceilings.
func grantOf(r *policy.Rule) *rootless.Grant {
	m := r.Allow.Masks
	return &rootless.Grant{
		Cmds: spec.KindCmds.FormatMask(m[spec.KindCmds]), Maps: spec.KindMaps.FormatMask(m[spec.KindMaps]),
		Progs: spec.KindProgs.FormatMask(m[spec.KindProgs]), Attachs: spec.KindAttachs.FormatMask(m[spec.KindAttachs]),
		Profiles: spec.CoveredProfiles(m), Paths: r.Allow.Paths, Any: r.Allow.Any,
		HostCgroupNamespace: r.Allow.HostCgroupNamespace, HostNetworkNamespace: r.Allow.HostNetworkNamespace,
	}
}

// readRequest reads the one message of a connection and the fds passed
// with it (the caller closes them, whatever the error).
func readRequest(conn *net.UnixConn) (*rootless.Request, []int, error) {
	buf := make([]byte, rootless.MaxMessage+1)
	// Room for one fd: the kernel closes any more it could not deliver,
	// and says so with MSG_CTRUNC.
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, flags, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, nil, fmt.Errorf("read request: %w", err)
	}
	fds, ferr := passedFDs(oob[:oobn])
	switch {
	case ferr != nil:
		return nil, fds, ferr
	case flags&unix.MSG_CTRUNC != 0:
		return nil, fds, fmt.Errorf("%w: more than one fd passed", rootless.ErrMalformed)
	case flags&unix.MSG_TRUNC != 0:
		return nil, fds, fmt.Errorf("%w: request larger than %d bytes", rootless.ErrMalformed, rootless.MaxMessage)
	}
	req, err := rootless.DecodeRequest(buf[:n])
	return req, fds, err
}

// passedFDs returns the fds of the SCM_RIGHTS messages in oob; other
// control messages are malformed.
func passedFDs(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("%w: control message: %v", rootless.ErrMalformed, err)
	}
	var fds []int
	for _, m := range msgs {
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			return fds, fmt.Errorf("%w: control message: %v", rootless.ErrMalformed, err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// cred is what the kernel says of the caller.
type cred struct {
	pid  int32
	uid  uint32
	gids []uint32 // primary first
}

// peerCred reads the caller's host ids: SO_PEERCRED (as of connect) and
// SO_PEERGROUPS.
func peerCred(conn *net.UnixConn) (*cred, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	var c *cred
	var serr error
	err = raw.Control(func(fd uintptr) {
		var uc *unix.Ucred
		if uc, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); serr != nil {
			serr = fmt.Errorf("SO_PEERCRED: %w", serr)
			return
		}
		c = &cred{pid: uc.Pid, uid: uc.Uid, gids: []uint32{uc.Gid}}
		var groups []uint32
		if groups, serr = peerGroups(int(fd)); serr != nil {
			return
		}
		for _, g := range groups {
			if !slices.Contains(c.gids, g) {
				c.gids = append(c.gids, g)
			}
		}
	})
	if err == nil {
		err = serr
	}
	return c, err
}

// peerGroups reads SO_PEERGROUPS, growing its buffer as the kernel asks
// (ERANGE), up to NGROUPS_MAX.
func peerGroups(fd int) ([]uint32, error) {
	const ngroupsMax = 65536
	size := 64
	for {
		buf := make([]uint32, size)
		n := uint32(4 * size)
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
		switch {
		case e == 0:
			return buf[:n/4], nil
		case e == unix.ERANGE && int(n/4) > size && n/4 <= ngroupsMax:
			size = int(n / 4)
		default:
			return nil, fmt.Errorf("SO_PEERGROUPS: %w", e)
		}
	}
}

// hostUser names the caller from the user and group databases.
func hostUser(c *cred) *policy.HostUser {
	u := &policy.HostUser{UID: c.uid, GIDs: c.gids}
	if pw, err := user.LookupId(strconv.FormatUint(uint64(c.uid), 10)); err == nil {
		u.Name = pw.Username
	}
	for _, gid := range c.gids {
		name := ""
		if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil {
			name = g.Name
		}
		u.Groups = append(u.Groups, name)
	}
	return u
}
