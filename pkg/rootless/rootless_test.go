package rootless_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/rootless"
)

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string // "" when valid
	}{
		{"grants", `{"version":1,"op":"grants"}`, ""},
		{"mount", `{"version":1,"op":"mount","container":"c","rootfs":"/r","annotations":{"bpf.token/cmds":"map_create"}}`, ""},
		{"other version", `{"version":7,"op":"grants"}`, "protocol version 7, this service speaks 1"},
		{"no version", `{"op":"grants"}`, "protocol version 0"},
		{"unknown op", `{"version":1,"op":"chmod"}`, `unknown op "chmod"`},
		{"unknown field", `{"version":1,"op":"grants","uid":0}`, `unknown field "uid"`},
		{"two messages", `{"version":1,"op":"grants"} {}`, "data after the message"},
		{"not an object", `[1]`, "malformed message"},
		{"annotations of the wrong type", `{"version":1,"op":"mount","annotations":{"a":1}}`, "malformed message"},
		{"too large", `{"version":1,"op":"grants","container":"` + strings.Repeat("x", rootless.MaxMessage) + `"}`, "more than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rootless.DecodeRequest([]byte(tt.data))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("DecodeRequest = %v", err)
				}
				return
			}
			if !errors.Is(err, rootless.ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeRequest = %v, want ErrMalformed with %q", err, tt.want)
			}
		})
	}
}

func TestDoUnreachable(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "none.sock")
	_, err := rootless.Do(context.Background(), socket, rootless.Request{Version: rootless.Version, Op: rootless.OpGrants}, -1)
	if !errors.Is(err, rootless.ErrUnreachable) || !strings.HasSuffix(err.Error(), "no socket there") {
		t.Fatalf("Do = %v, want ErrUnreachable, no socket there", err)
	}
}

// Ask bpftokend what the policy grants the calling user.
func ExampleDo() {
	resp, err := rootless.Do(context.Background(), rootless.DefaultSocket,
		rootless.Request{Version: rootless.Version, Op: rootless.OpGrants}, -1)
	switch {
	case err != nil:
		fmt.Println(err)
	case resp.Error != "":
		fmt.Println("refused:", resp.Error)
	case resp.Grant == nil:
		fmt.Printf("no rule of %s selects %s\n", resp.Policy, resp.User)
	default:
		fmt.Printf("rule %q grants %s progs=%s\n", resp.Rule, resp.User, resp.Grant.Progs)
	}
}
