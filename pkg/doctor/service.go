package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/rootless"
)

// serviceTimeout bounds the service check's exchange.
const serviceTimeout = 5 * time.Second

// checkService asks bpftokend at socket what it grants the user running
// the doctor: whether it answers, and the rule that decides for them.
func checkService(ctx context.Context, socket string) Result {
	r := Result{Name: CheckService}
	ctx, cancel := context.WithTimeout(ctx, serviceTimeout)
	defer cancel()
	resp, err := rootless.Do(ctx, socket, rootless.Request{Version: rootless.Version, Op: rootless.OpGrants}, -1)
	switch {
	case errors.Is(err, rootless.ErrUnreachable):
		r.Verdict, r.Detail = Fail, fmt.Sprintf("rootless podman: %v", err)
		r.Fix = "the node's admin installs and starts bpftokend (make install; systemctl enable --now bpftokend.socket; or run bpftokend as root), see docs/rootless.md"
	case err != nil:
		r.Verdict, r.Detail = Fail, fmt.Sprintf("bpftokend at %s: %v", socket, err)
		r.Fix = "see bpftokend's log"
	case resp.Error != "":
		r.Verdict, r.Detail = Fail, fmt.Sprintf("bpftokend %s at %s answers %s: %s", resp.Service, socket, resp.User, resp.Error)
		r.Fix = "the node's admin fixes the policy (docs/rootless.md)"
	case resp.Grant == nil:
		r.Verdict = Fail
		r.Detail = fmt.Sprintf("bpftokend %s at %s answers, but no rule of policy %s selects %s: it grants you nothing", resp.Service, socket, resp.Policy, resp.User)
		r.Fix = "ask the node's admin for a rule with match.users or match.groups that names you (docs/rootless.md)"
	default:
		g := resp.Grant
		detail := fmt.Sprintf("bpftokend %s at %s answers; rule %q of policy %s grants %s at most cmds=%s maps=%s progs=%s attachs=%s at %s",
			resp.Service, socket, resp.Rule, resp.Policy, resp.User, orNone(g.Cmds), orNone(g.Maps), orNone(g.Progs), orNone(g.Attachs), strings.Join(g.Paths, ", "))
		if len(g.Profiles) > 0 {
			detail += " (profiles " + strings.Join(g.Profiles, ", ") + ")"
		}
		r.Verdict, r.Detail = OK, detail
	}
	return r
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
