package main

import (
	"flag"
	"fmt"
	"path/filepath"

	"github.com/cilium/ebpf"
)

func runPin(fs *flag.FlagSet, args []string) (string, error) {
	bpffs := fs.String("bpffs", "/sys/fs/bpf", "bpffs `directory` to pin in")
	value := fs.Uint64("value", 42, "value to store in the map")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: bpfworkload pin [-bpffs DIR] [-value V] NAME")
		fs.PrintDefaults()
	}
	if err := parse(fs, args, 1); err != nil {
		return "", err
	}
	path := filepath.Join(*bpffs, fs.Arg(0))
	m, err := newCounters("wl_pin", 1)
	if err != nil {
		return "", err
	}
	defer m.Close()
	if err := m.Put(uint32(0), *value); err != nil {
		return "", step("write map", err)
	}
	if err := m.Pin(path); err != nil {
		return "", step("pin map", err)
	}
	info, err := m.Info()
	if err != nil {
		return "", step("map info", err)
	}
	id, _ := info.ID()
	return fmt.Sprintf("pinned array map id %d with value %d at %s", id, *value, path), nil
}

func runGet(fs *flag.FlagSet, args []string) (string, error) {
	bpffs := fs.String("bpffs", "/sys/fs/bpf", "bpffs `directory` the pin is in")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: bpfworkload get [-bpffs DIR] NAME")
		fs.PrintDefaults()
	}
	if err := parse(fs, args, 1); err != nil {
		return "", err
	}
	path := filepath.Join(*bpffs, fs.Arg(0))
	m, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		return "", step("open pin (BPF_OBJ_GET)", err)
	}
	defer m.Close()
	v, err := counter(m, 0)
	if err != nil {
		return "", err
	}
	info, err := m.Info()
	if err != nil {
		return "", step("map info", err)
	}
	id, _ := info.ID()
	return fmt.Sprintf("read value %d from %s (array map id %d)", v, path, id), nil
}
