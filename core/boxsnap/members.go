package boxsnap

import (
	"archive/tar"
	"strings"
	"time"
)

// member identifies one of the three files an archive holds.
type member int

const (
	guestDisk member = iota
	containerDisk
	manifestFile
	memberCount
)

func (m member) String() string {
	switch m {
	case guestDisk:
		return MemberGuestDisk
	case containerDisk:
		return MemberContainerDisk
	default:
		return MemberManifest
	}
}

// memberNamed maps an exact member name; anything else (paths, "./x",
// other files) is not part of the format.
func memberNamed(name string) (member, bool) {
	switch name {
	case MemberGuestDisk:
		return guestDisk, true
	case MemberContainerDisk:
		return containerDisk, true
	case MemberManifest:
		return manifestFile, true
	}
	return 0, false
}

// memberHeader is the deterministic header of every member: only the name,
// size and the caller's mtime vary. archive/tar picks ustar, or PAX when the
// size or mtime does not fit ustar's octal fields (disks of 8 GiB and more).
func memberHeader(name string, size int64, mtime time.Time) *tar.Header {
	return &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     size,
		Mode:     0o644,
		ModTime:  mtime,
	}
}

// checkMemberHeader admits only a regular, non-sparse file with one of the
// three names. PAX records are otherwise plain attributes and are ignored.
func checkMemberHeader(hdr *tar.Header) (member, error) {
	if hdr.Typeflag != tar.TypeReg {
		return 0, corrupt("member %s is %s, not a regular file", quoteName(hdr.Name), describeType(hdr.Typeflag))
	}
	m, ok := memberNamed(hdr.Name)
	if !ok {
		return 0, corrupt("member %s is not one of %s, %s, %s", quoteName(hdr.Name),
			MemberGuestDisk, MemberContainerDisk, MemberManifest)
	}
	for key := range hdr.PAXRecords {
		if strings.HasPrefix(key, "GNU.sparse.") {
			return 0, corrupt("member %s is a sparse file", m)
		}
	}
	return m, nil
}

func describeType(flag byte) string {
	switch flag {
	case tar.TypeDir:
		return "a directory"
	case tar.TypeSymlink:
		return "a symlink"
	case tar.TypeLink:
		return "a hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "a device"
	case tar.TypeFifo:
		return "a fifo"
	case tar.TypeXGlobalHeader:
		return "a global PAX header"
	case tar.TypeGNUSparse:
		return "a sparse file"
	}
	return "of tar type " + quoteName(string(flag))
}
