package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// loadModules inserts every .ko in dir, each after the modules it depends on.
// The dependencies come from each module's own .modinfo section, so the
// initramfs needs neither modules.dep nor kmod.
func loadModules(dir string, log *slog.Logger) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*.ko"))
	if err != nil {
		return err
	}
	deps := make(map[string][]string, len(paths))
	for _, p := range paths {
		d, err := moduleDeps(p)
		if err != nil {
			return err
		}
		deps[strings.TrimSuffix(filepath.Base(p), ".ko")] = d
	}
	order, err := loadOrder(deps)
	if err != nil {
		return err
	}
	for _, name := range order {
		if err := insertModule(filepath.Join(dir, name+".ko")); err != nil {
			return err
		}
	}
	log.Info("modules loaded", "order", order)
	return nil
}

// moduleDeps reads the "depends=" entry of a kernel module's .modinfo.
func moduleDeps(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module %s: no .modinfo section", path)
	}
	info, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	for _, field := range bytes.Split(info, []byte{0}) {
		if v, ok := bytes.CutPrefix(field, []byte("depends=")); ok {
			return strings.FieldsFunc(string(v), func(r rune) bool { return r == ',' }), nil
		}
	}
	return nil, nil
}

// loadOrder sorts modules so that each follows its dependencies. A dependency
// that is not in deps is taken to be built into the kernel.
func loadOrder(deps map[string][]string) ([]string, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := make(map[string]int, len(deps))
	order := make([]string, 0, len(deps))
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("module dependency cycle through %s", name)
		}
		state[name] = visiting
		for _, d := range deps[name] {
			if _, ok := deps[d]; ok {
				if err := visit(d); err != nil {
					return err
				}
			}
		}
		state[name] = done
		order = append(order, name)
		return nil
	}
	names := make([]string, 0, len(deps))
	for name := range deps {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := visit(name); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// insertModule is insmod: finit_module(2) on the file.
func insertModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("insert module %s: %w", path, err)
	}
	return nil
}
