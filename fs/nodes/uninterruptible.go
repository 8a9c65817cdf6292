package nodes

import "github.com/hanwen/go-fuse/v2/fuse"

// uninterruptible passes requests to the node tree without the kernel's
// interrupt channel. The kernel interrupts a request whenever its caller
// gets any signal, and multithreaded tools (qemu-img, cp under strace) get
// signals that do not mean "give up": an engine call cancelled by one would
// fail an open or a mkdir with EINTR, which the tools do not retry. Every
// operation here is short or, like a snapshot, atomic and better finished.
type uninterruptible struct {
	fuse.RawFileSystem
}

func (u uninterruptible) Lookup(_ <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	return u.RawFileSystem.Lookup(nil, h, name, out)
}

func (u uninterruptible) GetAttr(_ <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	return u.RawFileSystem.GetAttr(nil, in, out)
}

func (u uninterruptible) SetAttr(_ <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	return u.RawFileSystem.SetAttr(nil, in, out)
}

func (u uninterruptible) Mkdir(_ <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	return u.RawFileSystem.Mkdir(nil, in, name, out)
}

func (u uninterruptible) Unlink(_ <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return u.RawFileSystem.Unlink(nil, h, name)
}

func (u uninterruptible) Rmdir(_ <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return u.RawFileSystem.Rmdir(nil, h, name)
}

func (u uninterruptible) Rename(_ <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	return u.RawFileSystem.Rename(nil, in, oldName, newName)
}

func (u uninterruptible) Create(_ <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	return u.RawFileSystem.Create(nil, in, name, out)
}

func (u uninterruptible) Open(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	return u.RawFileSystem.Open(nil, in, out)
}

func (u uninterruptible) Read(_ <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	return u.RawFileSystem.Read(nil, in, buf)
}

func (u uninterruptible) Write(_ <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	return u.RawFileSystem.Write(nil, in, data)
}

func (u uninterruptible) CopyFileRange(_ <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	return u.RawFileSystem.CopyFileRange(nil, in)
}

func (u uninterruptible) Flush(_ <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	return u.RawFileSystem.Flush(nil, in)
}

func (u uninterruptible) Release(_ <-chan struct{}, in *fuse.ReleaseIn) {
	u.RawFileSystem.Release(nil, in)
}

func (u uninterruptible) OpenDir(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	return u.RawFileSystem.OpenDir(nil, in, out)
}

func (u uninterruptible) ReadDir(_ <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return u.RawFileSystem.ReadDir(nil, in, out)
}

func (u uninterruptible) ReadDirPlus(_ <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return u.RawFileSystem.ReadDirPlus(nil, in, out)
}

func (u uninterruptible) StatFs(_ <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	return u.RawFileSystem.StatFs(nil, h, out)
}
