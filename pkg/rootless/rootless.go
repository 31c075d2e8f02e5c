// Package rootless is the protocol between the OCI hook of a rootless
// podman and bpftokend, the privileged service that mounts a delegated
// bpffs for the hook's container: the messages, their bounded encoding, and
// the client's end.
//
// Its one hard constraint: a request proves nothing about who sent it or
// whose container it names. The service learns the caller's host user from
// the kernel (SO_PEERCRED, SO_PEERGROUPS) and takes the target from the
// pidfd passed with the request (SCM_RIGHTS), never from the message; what
// the message says (annotations, the rootfs path) is the user's to choose,
// and it is only ever judged against that user's rule.
//
// One request and one answer per connection, on a SOCK_SEQPACKET unix
// socket, each one JSON message of at most MaxMessage bytes.
package rootless

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// DefaultSocket is where bpftokend listens unless told otherwise.
const DefaultSocket = "/run/bpftokend.sock"

// Version is the protocol's version; a service refuses others.
const Version = 1

// MaxMessage bounds a request and an answer: a request carries at most the
// bpf.token/ annotations and a path.
const MaxMessage = 64 << 10

// Operations.
const (
	// OpMount mounts a delegated bpffs in the container of the pidfd sent
	// with the request.
	OpMount = "mount"
	// OpGrants says what the caller's rule of the policy grants.
	OpGrants = "grants"
)

var (
	// ErrUnreachable means no service answers on the socket.
	ErrUnreachable = errors.New("bpftokend is not reachable")
	// ErrMalformed means a message is not one of this protocol.
	ErrMalformed = errors.New("malformed message")
)

// Request is what a client asks.
type Request struct {
	Version int    `json:"version"`
	Op      string `json:"op"`
	// Container names the container in messages (podman's id); the
	// service trusts nothing of it.
	Container string `json:"container,omitempty"`
	// Rootfs is the container's root directory in its own mount namespace
	// at createRuntime (config.json's root.path).
	Rootfs string `json:"rootfs,omitempty"`
	// Annotations are the container's bpf.token/ annotations.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Response is the service's answer.
type Response struct {
	// Error is why the request was refused, one line; "" when it was not.
	Error string `json:"error,omitempty"`
	// Service is the service's version.
	Service string `json:"service,omitempty"`

	// OpMount: the mount made, as bpffs.Result says.
	MountID        uint64 `json:"mountId,omitempty"`
	Options        string `json:"options,omitempty"`
	AlreadyMounted bool   `json:"alreadyMounted,omitempty"`

	// OpGrants (and OpMount): the caller as the service knows it, and the
	// rule that decides for it.
	User   string `json:"user,omitempty"`
	Policy string `json:"policy,omitempty"`
	Rule   string `json:"rule,omitempty"`
	// Grant is what Rule allows; nil when no rule selects the caller.
	Grant *Grant `json:"grant,omitempty"`
}

// Grant is a rule's ceilings, in the annotation syntax.
type Grant struct {
	Cmds                 string   `json:"cmds"`
	Maps                 string   `json:"maps"`
	Progs                string   `json:"progs"`
	Attachs              string   `json:"attachs"`
	Profiles             []string `json:"profiles,omitempty"`
	Paths                []string `json:"paths"`
	Any                  bool     `json:"any,omitempty"`
	HostCgroupNamespace  bool     `json:"hostCgroupNamespace,omitempty"`
	HostNetworkNamespace bool     `json:"hostNetworkNamespace,omitempty"`
}

// encode marshals v within MaxMessage.
func encode(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(data), MaxMessage)
	}
	return data, nil
}

// decode unmarshals one JSON object of data into v, refusing unknown
// fields and anything after it.
func decode(data []byte, v any) error {
	if len(data) > MaxMessage {
		return fmt.Errorf("%w: more than %d bytes", ErrMalformed, MaxMessage)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the message", ErrMalformed)
	}
	return nil
}

// EncodeRequest marshals r.
func EncodeRequest(r Request) ([]byte, error) { return encode(r) }

// DecodeRequest parses a request and checks its version and operation.
func DecodeRequest(data []byte) (*Request, error) {
	var r Request
	if err := decode(data, &r); err != nil {
		return nil, err
	}
	if r.Version != Version {
		return nil, fmt.Errorf("%w: protocol version %d, this service speaks %d: use the hook of the same release as the service", ErrMalformed, r.Version, Version)
	}
	if r.Op != OpMount && r.Op != OpGrants {
		return nil, fmt.Errorf("%w: unknown op %q", ErrMalformed, clip(r.Op))
	}
	return &r, nil
}

// EncodeResponse marshals r.
func EncodeResponse(r Response) ([]byte, error) { return encode(r) }

// DecodeResponse parses an answer.
func DecodeResponse(data []byte) (*Response, error) {
	var r Response
	if err := decode(data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// clip shortens a string a client sent before it goes into a message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Do sends req, with pidfd (-1: none) as its one passed fd, to the service
// on socket and returns its answer, within ctx's deadline. A refusal is an
// answer (Response.Error), not an error; errors are the exchange's, and
// ErrUnreachable when nothing answers on socket.
func Do(ctx context.Context, socket string, req Request, pidfd int) (*Response, error) {
	data, err := EncodeRequest(req)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unixpacket", socket)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %s", ErrUnreachable, socket, dialReason(err))
	}
	conn := c.(*net.UnixConn)
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	var oob []byte
	if pidfd >= 0 {
		oob = unix.UnixRights(pidfd)
	}
	if _, _, err := conn.WriteMsgUnix(data, oob, nil); err != nil {
		return nil, fmt.Errorf("send request to %s: %w", socket, unwrapOp(err))
	}
	buf := make([]byte, MaxMessage+1)
	n, _, flags, _, err := conn.ReadMsgUnix(buf, nil)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("no answer from %s within the deadline: %w", socket, context.DeadlineExceeded)
		}
		return nil, fmt.Errorf("read answer from %s: %w", socket, unwrapOp(err))
	}
	if n == 0 {
		return nil, fmt.Errorf("%s closed the connection without an answer", socket)
	}
	if flags&unix.MSG_TRUNC != 0 {
		return nil, fmt.Errorf("answer from %s: %w: more than %d bytes", socket, ErrMalformed, MaxMessage)
	}
	return DecodeResponse(buf[:n])
}

// dialReason says why a connection failed in words, not errno names: a
// runtime reading the hook's message may take "no such file or directory"
// for a missing hook binary (podman says "command not found", exit 127).
func dialReason(err error) string {
	switch {
	case errors.Is(err, unix.ENOENT):
		return "no socket there"
	case errors.Is(err, unix.ECONNREFUSED):
		return "nothing listens there"
	case errors.Is(err, unix.EACCES):
		return "permission denied"
	}
	return unwrapOp(err).Error()
}

// unwrapOp drops the *net.OpError's repetition of the address.
func unwrapOp(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Err
	}
	return err
}
