// Command standin is a stand-in container for the privileged integration
// tests: the tests start it in a new user namespace (0 -> 100000) and a new
// mount namespace, as a runtime would start a container's init, run the real
// hook against its pid, and then ask it, over stdin, what bpf() lets it do.
//
// Protocol: it prints "ready" once its mounts are private; then, for each
// line "probe DIR" on stdin, it prints one JSON object with the outcome of
// each probe against the bpffs at DIR ("ok" or an errno name); it exits at
// end of input.
//
// "standin -probe DIR" runs the probes once and prints the JSON: the bats
// suite mounts it into real containers to see what they may do.
//
// "standin -pivot ROOTFS" first makes ROOTFS its root with pivot_root, as a
// started container has it (what the NRI plugin meets at StartContainer).
//
// "standin -pin DIR NAME VALUE" creates an array map through the token of the
// bpffs at DIR, stores VALUE at key 0 and pins the map at DIR/NAME;
// "standin -get DIR NAME" prints the value at key 0 of the map pinned at
// DIR/NAME: the bats suites check with them that containers share pins.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/bpfsys"
)

func main() {
	if len(os.Args) == 5 && os.Args[1] == "-pin" {
		exitOn(pin(os.Args[2], os.Args[3], os.Args[4]))
		return
	}
	if len(os.Args) == 4 && os.Args[1] == "-get" {
		exitOn(get(os.Args[2], os.Args[3]))
		return
	}
	if len(os.Args) == 3 && os.Args[1] == "-probe" {
		out, _ := json.Marshal(probe(os.Args[2]))
		fmt.Println(string(out))
		return
	}
	// Like runc: nothing mounted in here may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		fmt.Fprintf(os.Stderr, "standin: make / slave: %v\n", err)
		os.Exit(1)
	}
	if len(os.Args) == 3 && os.Args[1] == "-pivot" {
		if err := pivot(os.Args[2]); err != nil {
			fmt.Fprintf(os.Stderr, "standin: pivot_root into %s: %v\n", os.Args[2], err)
			os.Exit(1)
		}
	}
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		dir, ok := strings.CutPrefix(sc.Text(), "probe ")
		if !ok {
			fmt.Fprintf(os.Stderr, "standin: unknown request %q\n", sc.Text())
			os.Exit(2)
		}
		out, _ := json.Marshal(probe(dir))
		fmt.Println(string(out))
	}
}

// pivot makes rootfs the root of this mount namespace, as runc does.
func pivot(rootfs string) error {
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unix.Chdir(rootfs); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return err
	}
	return unix.Chdir("/")
}

// bpf enum values used by the probes (include/uapi/linux/bpf.h).
const (
	mapHash           = 1
	mapArray          = 2
	progSocketFilter  = 1
	progXDP           = 6
	attachInetIngress = 0
	attachXDP         = 37
)

func probe(dir string) map[string]string {
	res := map[string]string{}
	fail := func(key string, err error) { res[key] = bpfsys.Describe(err) }
	closeOK := func(key string, fd int, err error) {
		fail(key, err)
		if err == nil {
			unix.Close(fd)
		}
	}

	// Without a token: the baseline every delegated result is compared to.
	fd, err := bpfsys.MapCreate(-1, mapArray)
	closeOK("array_without_token", fd, err)

	bpffs, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		fail("open", err)
		return res
	}
	defer unix.Close(bpffs)
	token, err := bpfsys.TokenCreate(bpffs)
	fail("token", err)
	if err != nil {
		return res
	}
	defer unix.Close(token)

	fd, err = bpfsys.MapCreate(token, mapArray)
	fail("array", err)
	if err == nil {
		// Pinning shows the bpffs root belongs to the container's root.
		fail("pin", bpfsys.ObjPin(fd, filepath.Join(dir, "standin_array")))
		unix.Close(fd)
	}
	fd, err = bpfsys.MapCreate(token, mapHash)
	closeOK("hash", fd, err)
	fd, err = bpfsys.ProgLoad(token, progSocketFilter, attachInetIngress)
	closeOK("socket_filter", fd, err)
	fd, err = bpfsys.ProgLoad(token, progXDP, attachXDP)
	closeOK("xdp", fd, err)
	fd, err = bpfsys.BTFLoad(token)
	closeOK("btf", fd, err)
	return res
}

func exitOn(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "standin: %v\n", err)
		os.Exit(1)
	}
}

// pin stores value in a new array map, made through the token of the bpffs
// at dir, and pins the map there as name.
func pin(dir, name, value string) error {
	v, err := strconv.ParseUint(value, 10, 64)
	if err != nil {
		return err
	}
	root, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	token, err := bpfsys.TokenCreate(root)
	if err != nil {
		return fmt.Errorf("token from %s: %w", dir, err)
	}
	defer unix.Close(token)
	m, err := bpfsys.MapCreate(token, 2) // BPF_MAP_TYPE_ARRAY
	if err != nil {
		return fmt.Errorf("create array map: %w", err)
	}
	defer unix.Close(m)
	if err := bpfsys.MapUpdate(m, 0, v); err != nil {
		return fmt.Errorf("update map: %w", err)
	}
	if err := bpfsys.ObjPin(m, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("pin at %s: %w", filepath.Join(dir, name), err)
	}
	fmt.Println("pinned")
	return nil
}

// get prints the value at key 0 of the map pinned at dir/name.
func get(dir, name string) error {
	m, err := bpfsys.ObjGet(filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("get %s: %w", filepath.Join(dir, name), err)
	}
	defer unix.Close(m)
	v, err := bpfsys.MapLookup(m, 0)
	if err != nil {
		return fmt.Errorf("lookup: %w", err)
	}
	fmt.Println(v)
	return nil
}
