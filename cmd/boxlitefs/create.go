package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// createCmd makes a new stopped box.
func createCmd() homeCommand {
	var fromDir, size, image string
	return homeCommand{
		name: "create", nargs: 1, usage: "create [--home DIR] NAME [--from-dir DIR] [--size 10G]",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&fromDir, "from-dir", "", "fill the container disk from this directory")
			fs.StringVar(&size, "size", "", "the container disk's size, e.g. 10G (default 10G)")
			fs.StringVar(&image, "image", "", "the image name recorded in box.json")
		},
		do: func(ctx context.Context, rt *snapshot.Runtime, args []string) error {
			opts := snapshot.CreateOptions{FromDir: fromDir, Image: image}
			if size != "" {
				var err error
				if opts.DiskSize, err = parseSize(size); err != nil {
					return err
				}
			}
			info, err := rt.CreateBox(ctx, args[0], opts)
			if err != nil {
				return err
			}
			fmt.Printf("created box %s (%s)\n", info.Name, info.ID)
			return nil
		},
	}
}

// parseSize reads a size such as 512M, 10G or 1048576 (bytes); K, M, G, T
// are powers of 1024.
func parseSize(s string) (int64, error) {
	units := map[byte]int64{'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30, 'T': 1 << 40}
	mult := int64(1)
	num := strings.TrimSuffix(strings.ToUpper(s), "B")
	if n := len(num); n > 0 && units[num[n-1]] != 0 {
		mult, num = units[num[n-1]], num[:n-1]
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want a positive number with an optional K, M, G or T", s)
	}
	return v * mult, nil
}
